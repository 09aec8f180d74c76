// The console map: the region map of cgmap.js with the open cases coloured by their light, the facility layer
// (toggled, by kind) and, on a click, the grid's panel.
(function () {
  "use strict";
  const el = document.getElementById("map");
  if (!el) return;
  const focus = el.dataset.focus, level = el.dataset.level;
  const mine = new Set((el.dataset.mine || "").split(",").filter(Boolean));
  const LIGHT = { red: "#dc2626", yellow: "#eab308", green: "#16a34a", none: "#64748b" };
  const esc = cgMaps.esc;

  cgMaps.regionMap(el, { focus, level, mine }).then(({ chart, info }) => {
    window.cgMap = chart;
    chart.on("click", (p) => {
      if (p.componentType === "geo" && info[p.name]) showGrid(p.name);
      if (p.seriesId === "cases" && p.data) location.href = "/cases/" + encodeURIComponent(p.data.value[2]);
    });
    const toggle = document.getElementById("show-cases");
    const loadCases = () => {
      if (toggle && !toggle.checked) { chart.setOption({ series: [{ id: "cases", data: [] }] }); el.dataset.cases = "0"; return; }
      fetch("/api/v1/cases/points?" + new URLSearchParams({ region: focus }), { credentials: "same-origin" })
        .then((r) => r.ok ? r.json() : { points: [] }).then((res) => {
          const counts = { red: 0, yellow: 0, green: 0, none: 0 };
          const data = res.points.map((p) => { counts[p[3]] += 1; return { name: p[4], value: p } ; });
          chart.setOption({ series: [{ id: "cases", type: "scatter", coordinateSystem: "geo", zlevel: 4,
            symbolSize: level === "city" ? 5 : 9, data,
            itemStyle: { color: (d) => LIGHT[d.data.value[3]], borderColor: "#fff", borderWidth: level === "city" ? 0 : 1 },
            tooltip: { formatter: (d) => `<b>${esc(d.data.value[4])}</b><br>${esc(d.data.value[2])} · ${esc(d.data.value[5])}` } }] });
          for (const k of Object.keys(counts)) { const o = document.getElementById("lc-" + k); if (o) o.textContent = counts[k]; }
          el.dataset.cases = String(data.length);
        });
    };
    if (toggle) toggle.addEventListener("change", loadCases);
    loadCases();
    setInterval(loadCases, 30000);
    facilities(chart);
    document.getElementById("map-loading").remove();
    el.dataset.ready = "1";
  }).catch((e) => {
    document.getElementById("map-loading").textContent = "边界加载失败:" + e.message;
  });

  // the facility layer (for roles that see base data): off until ticked; each kind toggled on its own
  function facilities(chart) {
    const box = document.getElementById("show-facilities");
    if (!box) return;
    const kindBoxes = [...document.querySelectorAll("input[name=fac-kind]")];
    const note = document.getElementById("fac-note");
    const layer = cgMaps.facilityLayer(chart, { region: focus, size: level === "city" || el.clientWidth < 500 ? 7 : 11,
      kinds: () => box.checked ? kindBoxes.filter((b) => b.checked).map((b) => b.value) : [],
      onLoad: (res) => {
        for (const b of kindBoxes) { const o = document.getElementById("fc-" + b.value); if (o) o.textContent = res ? res.counts[b.value] : "–"; }
        note.textContent = res ? res.note : ""; el.dataset.facilities = res ? String(res.shown) : "0";
      } });
    const reload = () => layer.load().catch((e) => { note.textContent = "设施加载失败:" + e.message; });
    box.addEventListener("change", reload);
    kindBoxes.forEach((b) => b.addEventListener("change", () => { if (b.checked) box.checked = true; reload(); }));
    if (box.checked) reload();
  }

  function showGrid(code) {
    const panel = document.getElementById("grid-panel");
    panel.innerHTML = '<p class="muted">加载中…</p>';
    const get = (u) => fetch(u, { credentials: "same-origin" }).then((r) => r.ok ? r.json() : null);
    Promise.all([get("/api/v1/regions/" + encodeURIComponent(code)), get("/api/v1/cases/summary?region=" + encodeURIComponent(code))])
      .then(([g, sum]) => {
        const anc = Object.fromEntries((g.ancestors || []).map((a) => [a.level, a]));
        const workers = (g.workers || []).map((w) => `<li>${esc(w.display_name)} <span class="muted">${esc(w.username)}</span></li>`).join("");
        panel.innerHTML = `<h2>${esc(g.name)}</h2><dl>
          <dt>网格代码</dt><dd><code>${esc(g.code)}</code></dd>
          <dt>村(社区)</dt><dd>${esc(anc.village?.name)} <span class="muted">${esc(anc.village?.code)}</span></dd>
          <dt>镇街</dt><dd>${esc(anc.town?.name)} <span class="muted">${esc(anc.town?.code)}</span></dd>
          <dt>面积</dt><dd>${(g.area_km2 ?? 0).toFixed(3)} km²</dd></dl>
          <h3>网格员(${(g.workers || []).length})</h3>${workers ? "<ul class='workers'>" + workers + "</ul>" : "<p class='muted'>尚未配备网格员</p>"}
          ${sum ? caseBlock(sum) : ""}`;
        panel.dataset.code = g.code;
      });
  }
  function caseBlock(sum) {
    const rows = sum.cases.map((c) => `<li><span class="light ${esc(c.light || "")}"></span><a href="/cases/${encodeURIComponent(c.number)}">${esc(c.title)}</a> <span class="muted">${esc(c.state_label)}</span></li>`).join("");
    const q = "/cases?queue=all&region=" + encodeURIComponent(sum.code);
    return `<h3>事件</h3><ul class="stats grid-stats">
      <li><b>${sum.open}</b>未结案</li><li><b class="${sum.overdue ? "hot" : ""}">${sum.overdue}</b>超期</li>
      <li><b>${sum.reported_30d}</b>近30天上报</li><li><b>${sum.closed_30d}</b>近30天结案</li></ul>
      ${rows ? "<ul class='grid-cases'>" + rows + "</ul>" : "<p class='muted'>该网格目前没有未结案事件。</p>"}
      <p><a href="${q}">查看该网格全部事件 ›</a></p>`;
  }
})();

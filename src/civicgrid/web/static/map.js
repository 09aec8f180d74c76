// The region map: draws town, village and grid boundaries from the API with ECharts (no tiles).
(function () {
  "use strict";
  const el = document.getElementById("map");
  if (!el) return;
  const focus = el.dataset.focus, level = el.dataset.level;
  const mine = new Set((el.dataset.mine || "").split(",").filter(Boolean));
  const simplify = { city: 25, district: 15, town: 4, village: 0 }[level] ?? 0;
  const api = (q) => fetch("/api/v1/regions/geojson?" + new URLSearchParams(q), { credentials: "same-origin" })
    .then((r) => { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); });
  const palette = ["#dbeafe", "#dcfce7", "#fef9c3", "#fce7f3", "#ede9fe", "#ffedd5", "#cffafe", "#f1f5f9"];
  const LIGHT = { red: "#dc2626", yellow: "#eab308", green: "#16a34a", none: "#64748b" };
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

  function rings(fc) {
    const out = [];
    for (const f of fc.features) {
      const g = f.geometry, polys = g.type === "Polygon" ? [g.coordinates] : g.coordinates;
      for (const p of polys) for (const r of p) out.push({ coords: r });
    }
    return out;
  }

  const wanted = [api({ parent: focus, level: "grid", simplify })];
  // a village page draws the village's own outline (the API returns the parent for its own level)
  wanted.push(api({ parent: focus, level: "village", simplify: level === "village" ? 0 : simplify }));
  wanted.push(level === "city" || level === "district" ? api({ parent: focus, level: "town", simplify }) : Promise.resolve(null));

  Promise.all(wanted).then(([grids, villages, towns]) => {
    const chart = echarts.init(el, null, { renderer: "canvas" });
    window.cgMap = chart;
    const info = {}, villageIdx = {};
    villages.features.forEach((f, i) => { villageIdx[f.properties.code] = i; info[f.properties.code] = f.properties; });
    if (towns) towns.features.forEach((f) => { info[f.properties.code] = f.properties; });
    const regions = [];
    for (const f of grids.features) {
      const p = f.properties; info[p.code] = p; p.label = p.name; f.properties = Object.assign({}, p, { name: p.code });
      regions.push({ name: p.code, itemStyle: mine.has(p.code)
        ? { areaColor: "#fde68a", borderColor: "#b45309", borderWidth: 2 }
        : { areaColor: palette[(villageIdx[p.parent_code] ?? 0) % palette.length] } });
    }
    echarts.registerMap("cg-" + focus, grids);
    const labels = (towns || (level === "town" ? villages : null));
    const series = [
      { type: "lines", coordinateSystem: "geo", polyline: true, silent: true, zlevel: 1, data: rings(villages),
        lineStyle: { color: "#1e3a8a", width: level === "village" ? 2.5 : 1.2, opacity: 0.9 } },
    ];
    if (towns) series.push({ type: "lines", coordinateSystem: "geo", polyline: true, silent: true, zlevel: 2,
      data: rings(towns), lineStyle: { color: "#b91c1c", width: 2.2, opacity: 0.95 } });
    if (labels) series.push({ type: "scatter", coordinateSystem: "geo", zlevel: 3, symbolSize: 1, silent: true,
      data: labels.features.map((f) => ({ name: f.properties.name.replace(/(社区居民委员会|村民委员会|居民委员会)$/, ""), value: f.properties.cp })),
      label: { show: true, formatter: "{b}", color: "#111827", fontSize: level === "city" ? 12 : 11,
        textBorderColor: "#fff", textBorderWidth: 2 } });
    chart.setOption({
      animation: false,
      tooltip: { trigger: "item", formatter: (p) => {
        const g = info[p.name]; if (!g) return "";
        const v = info[g.parent_code];
        return `<b>${esc(g.label || g.name)}</b>${mine.has(g.code) ? "(我的网格)" : ""}<br>${esc(g.code)}${v ? "<br>" + esc(v.name) : ""}`;
      } },
      geo: { map: "cg-" + focus, roam: true, scaleLimit: { min: 0.8, max: 60 }, aspectScale: 0.92,
        layoutCenter: ["50%", "50%"], layoutSize: "96%", regions,
        itemStyle: { borderColor: "#94a3b8", borderWidth: 0.4, areaColor: "#e2e8f0" },
        emphasis: { label: { show: false }, itemStyle: { areaColor: "#fbbf24" } },
        select: { label: { show: false }, itemStyle: { areaColor: "#f59e0b" } }, selectedMode: "single" },
      series,
    });
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
    window.addEventListener("resize", () => chart.resize());
    document.getElementById("map-loading").remove();
    el.dataset.ready = "1";
  }).catch((e) => {
    document.getElementById("map-loading").textContent = "边界加载失败:" + e.message;
  });

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

// Assessment dashboards: trend line, category bars and the map shaded by a KPI (ECharts, data from the page).
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const dark = (el) => el.dataset.dark === "1";
  const fg = (el) => (dark(el) ? "#e5edff" : "#1f2937");
  const pct = (v) => (v == null ? "无数据" : (v * 100).toFixed(2) + "%");
  const charts = [];
  const make = (el) => { const c = echarts.init(el, null, { renderer: "canvas" }); charts.push(c); return c; };
  window.addEventListener("resize", () => charts.forEach((c) => c.resize()));

  const t = $("trend");
  if (t) {
    const rows = JSON.parse(t.dataset.trend);
    const c = make(t);
    c.setOption({
      animation: false, textStyle: { color: fg(t) },
      tooltip: { trigger: "axis", valueFormatter: (v) => (v == null ? "无数据" : v) },
      legend: { data: ["上报数", "结案数", "按期结案率"], textStyle: { color: fg(t) }, top: 0 },
      grid: { left: 48, right: 56, top: 36, bottom: 28 },
      xAxis: { type: "category", data: rows.map((r) => r.key), axisLabel: { color: fg(t) } },
      yAxis: [{ type: "value", name: "件", axisLabel: { color: fg(t) }, nameTextStyle: { color: fg(t) } },
        { type: "value", name: "按期结案率", min: 0, max: 1, axisLabel: { color: fg(t), formatter: (v) => Math.round(v * 100) + "%" },
          nameTextStyle: { color: fg(t) }, splitLine: { show: false } }],
      series: [
        { name: "上报数", type: "bar", data: rows.map((r) => r.values.reported), itemStyle: { color: "#60a5fa" } },
        { name: "结案数", type: "bar", data: rows.map((r) => r.values.closed), itemStyle: { color: "#34d399" } },
        { name: "按期结案率", type: "line", yAxisIndex: 1, connectNulls: false, data: rows.map((r) => r.values.on_time_closure_rate),
          itemStyle: { color: "#f59e0b" }, tooltip: { valueFormatter: pct } },
      ],
    });
  }

  const k = $("cats");
  if (k) {
    const rows = JSON.parse(k.dataset.cats).slice().reverse();
    const c = make(k);
    c.setOption({
      animation: false, textStyle: { color: fg(k) },
      tooltip: { trigger: "item" },
      grid: { left: 110, right: 40, top: 10, bottom: 20 },
      xAxis: { type: "value", axisLabel: { color: fg(k) } },
      yAxis: { type: "category", data: rows.map((r) => r.name), axisLabel: { color: fg(k), width: 100, overflow: "truncate" } },
      series: [{ type: "bar", data: rows.map((r) => r.value), itemStyle: { color: "#818cf8" },
        label: { show: true, position: "right", color: fg(k) } }],
    });
    if (rows.length === 0) c.setOption({ title: { text: "无数据", left: "center", top: "middle", textStyle: { color: fg(k) } } });
    c.on("click", (p) => { const r = rows[p.dataIndex]; if (r && r.link) location.href = r.link; });
  }

  const m = $("heat");
  if (m && m.dataset.level) {
    const values = JSON.parse(m.dataset.values), codes = JSON.parse(m.dataset.codes), links = JSON.parse(m.dataset.links);
    const link = Object.fromEntries(codes.map((c, i) => [c, links[i]]));
    const unit = m.dataset.unit;
    const simplify = { town: 25, village: 4, grid: 0 }[m.dataset.level] ?? 0;
    fetch("/api/v1/regions/geojson?" + new URLSearchParams({ parent: m.dataset.parent, level: m.dataset.level, simplify }),
      { credentials: "same-origin" }).then((r) => r.json()).then((fc) => {
      const names = {};
      fc.features.forEach((f) => { names[f.properties.code] = f.properties.name; f.properties = Object.assign({}, f.properties, { name: f.properties.code }); });
      echarts.registerMap("assess-" + m.dataset.parent, fc);
      const data = fc.features.map((f) => ({ name: f.properties.code, value: values[f.properties.code] ?? "-" }));  // "-": no data, drawn grey
      const nums = data.map((d) => d.value).filter((v) => typeof v === "number");
      const lo = nums.length ? Math.min(...nums) : 0, hi = nums.length ? Math.max(...nums) : 1;
      const c = make(m);
      c.setOption({
        animation: false,
        tooltip: { trigger: "item", formatter: (p) => `${names[p.name] || ""}<br>${p.value == null || isNaN(p.value) ? "无数据" : (unit === "rate" ? pct(p.value) : p.value)}` },
        visualMap: { min: lo, max: hi > lo ? hi : lo + (unit === "rate" ? 0.01 : 1), calculable: true,
          left: 10, bottom: 10, text: ["高", "低"], textStyle: { color: fg(m) },
          inRange: { color: ["#fee2e2", "#fde68a", "#bbf7d0", "#16a34a"] }, outOfRange: { color: "#e5e7eb" },
          formatter: (v) => (unit === "rate" ? (v * 100).toFixed(0) + "%" : Math.round(v)) },
        series: [{ type: "map", map: "assess-" + m.dataset.parent, roam: true, data, aspectScale: 0.92,
          layoutCenter: ["50%", "50%"], layoutSize: "96%",
          itemStyle: { borderColor: dark(m) ? "#0b1736" : "#ffffff", borderWidth: 0.8, areaColor: "#e5e7eb" },
          emphasis: { label: { show: false }, itemStyle: { areaColor: "#93c5fd" } },
          label: { show: m.dataset.level === "town", formatter: (p) => (names[p.name] || "").replace(/(街道|镇)$/, ""), fontSize: 10, color: "#111827" } }],
      });
      c.on("click", (p) => { if (link[p.name]) location.href = link[p.name]; });
    });
  }
})();

// The portal's "nearby" page: town boundaries drawn by ECharts (no tiles), the chosen point and the cases
// around it; a click on the map or "use my location" chooses the point and reloads the list.
(function () {
  "use strict";
  const t = (s) => (window.cgT || {})[s] || s;  // strings translated by the page (i18n.JS_STRINGS)
  const el = document.getElementById("nearby-map");
  if (!el) return;
  const form = document.getElementById("nearby-form");
  const lon = document.getElementById("lon"), lat = document.getElementById("lat");
  const text = document.getElementById("loc-text");
  const choose = (x, y) => { lon.value = x.toFixed(6); lat.value = y.toFixed(6); form.submit(); };
  document.getElementById("radius").addEventListener("change", () => { if (lon.value) form.submit(); });
  window.cgLocate(text, choose);  // forms.js
  const points = JSON.parse(document.getElementById("nearby-points").textContent || "[]");
  const colour = { "已办结": "#16a34a", "不予受理": "#6b7280" };
  window.addEventListener("load", () => fetch(el.dataset.boundaries).then((r) => r.json()).then((fc) => {
    if (!window.echarts) return;
    echarts.registerMap("towns", fc);
    const chart = echarts.init(el);
    const here = lon.value ? [[+lon.value, +lat.value]] : [];
    chart.setOption({
      animation: false,
      tooltip: { trigger: "item", formatter: (p) => p.seriesIndex === 1 ? `${p.name}<br>${t(p.data.stage)}` : p.name },
      geo: { map: "towns", roam: true, center: here.length ? here[0] : undefined, zoom: here.length ? 12 : 1,
        itemStyle: { areaColor: "#eff6ff", borderColor: "#93c5fd" }, label: { show: !here.length, fontSize: 10, color: "#64748b" },
        emphasis: { itemStyle: { areaColor: "#dbeafe" } } },
      series: [
        { type: "scatter", coordinateSystem: "geo", symbol: "pin", symbolSize: 28, itemStyle: { color: "#2563eb" }, data: here, silent: true },
        { type: "scatter", coordinateSystem: "geo", symbolSize: 11, data: points,
          itemStyle: { color: (p) => colour[p.data.stage] || "#f59e0b", borderColor: "#fff", borderWidth: 1 } },
      ],
    });
    chart.getZr().on("click", (e) => { const c = chart.convertFromPixel("geo", [e.offsetX, e.offsetY]); if (c) choose(c[0], c[1]); });
    el.dataset.ready = "1";
  }));
})();

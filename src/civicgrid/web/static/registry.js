// Base-data pages with a map (cgmap.js): the facility map (the filtered facilities over the region's grids,
// one box a kind), a facility's place on its grid, and picking a point on the facility and address forms.
(function () {
  "use strict";
  const facMap = document.getElementById("fac-map");
  if (facMap) {
    const d = facMap.dataset, loading = document.getElementById("map-loading");
    cgMaps.regionMap(facMap, { focus: d.focus, level: d.level, selectable: false }).then(({ chart }) => {
      window.cgMap = chart;
      const boxes = [...document.querySelectorAll("input[name=fac-kind]")];
      const note = document.getElementById("fac-note");
      const layer = cgMaps.facilityLayer(chart, { region: d.focus, q: d.q, status: d.status ? [d.status] : [],
        size: d.level === "city" || facMap.clientWidth < 500 ? 8 : 12,
        kinds: () => boxes.filter((b) => b.checked).map((b) => b.value),
        onLoad: (res) => {
          for (const b of boxes) { const o = document.getElementById("fc-" + b.value); if (o && res) o.textContent = res.counts[b.value]; }
          note.textContent = res ? res.note : "未选择任何设施类型。";
          facMap.dataset.facilities = res ? String(res.shown) : "0";
          facMap.dataset.ready = "1";
        } });
      const reload = () => layer.load().catch((e) => { note.textContent = "设施加载失败:" + e.message; });
      boxes.forEach((b) => b.addEventListener("change", () => { facMap.dataset.ready = "0"; reload(); }));
      loading.remove();
      reload();
    }).catch((e) => { loading.textContent = "地图加载失败:" + e.message; });
  }

  const one = document.getElementById("facility-map");
  if (one) window.addEventListener("load", () => cgMaps.pointMap(one, { color: one.dataset.color, symbol: one.dataset.symbol, size: 20 }));

  const pick = document.getElementById("form-pick-map");
  if (pick) {
    const lon = document.getElementById("f-lon"), lat = document.getElementById("f-lat");
    const crs = document.getElementById("f-crs"), text = document.getElementById("pick-text");
    window.addEventListener("load", () => cgMaps.pickMap(pick, null, (x, y) => {
      lon.value = x.toFixed(6); lat.value = y.toFixed(6);
      if (crs) crs.value = "wgs84";  // the map is drawn in WGS-84
      text.textContent = `地图选点:${x.toFixed(6)}, ${y.toFixed(6)}(WGS-84)`;
    }).then((show) => {
      const here = () => (!crs || crs.value === "wgs84") && lon.value && lat.value && isFinite(+lon.value) && isFinite(+lat.value);
      if (here()) show(+lon.value, +lat.value, 12);
      [lon, lat].forEach((i) => i.addEventListener("change", () => { if (here()) show(+lon.value, +lat.value); }));
    }));
  }
})();

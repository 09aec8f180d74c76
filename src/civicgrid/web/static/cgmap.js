// What every map of the app shares (ECharts over our own GeoJSON, no tiles): fetching boundaries, the region
// map of the console, a small map of one point in its grid, picking a point on a map, and the facility layer.
// Pages load echarts.min.js, then this file, then their own script (all deferred, so in that order).
window.cgMaps = (function () {
  "use strict";
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const getJSON = (url, q) => fetch(url + (q ? "?" + new URLSearchParams(q) : ""), { credentials: "same-origin" })
    .then((r) => { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); });
  const regions = (q) => getJSON("/api/v1/regions/geojson", q);
  const palette = ["#dbeafe", "#dcfce7", "#fef9c3", "#fce7f3", "#ede9fe", "#ffedd5", "#cffafe", "#f1f5f9"];

  function rings(fc) {
    const out = [];
    for (const f of fc.features) {
      const g = f.geometry, polys = g.type === "Polygon" ? [g.coordinates] : g.coordinates;
      for (const p of polys) for (const r of p) out.push({ coords: r });
    }
    return out;
  }

  // The region map: grids filled by village, village and town outlines, names. Resolves to { chart, info }
  // (info: region properties by code) once drawn; the caller adds its layers and click handlers.
  function regionMap(el, opts) {
    const focus = opts.focus, level = opts.level, mine = opts.mine || new Set();
    const simplify = { city: 25, district: 15, town: 4, village: 0 }[level] ?? 0;
    const wanted = [regions({ parent: focus, level: "grid", simplify }),
      // a village page draws the village's own outline (the API returns the parent for its own level)
      regions({ parent: focus, level: "village", simplify: level === "village" ? 0 : simplify }),
      level === "city" || level === "district" ? regions({ parent: focus, level: "town", simplify }) : Promise.resolve(null)];
    return Promise.all(wanted).then(([grids, villages, towns]) => {
      const chart = echarts.init(el, null, { renderer: "canvas" });
      const info = {}, villageIdx = {};
      villages.features.forEach((f, i) => { villageIdx[f.properties.code] = i; info[f.properties.code] = f.properties; });
      if (towns) towns.features.forEach((f) => { info[f.properties.code] = f.properties; });
      const fills = [];
      for (const f of grids.features) {
        const p = f.properties; info[p.code] = p; p.label = p.name; f.properties = Object.assign({}, p, { name: p.code });
        fills.push({ name: p.code, itemStyle: mine.has(p.code)
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
          layoutCenter: ["50%", "50%"], layoutSize: "96%", regions: fills,
          itemStyle: { borderColor: "#94a3b8", borderWidth: 0.4, areaColor: "#e2e8f0" },
          emphasis: { label: { show: false }, itemStyle: { areaColor: "#fbbf24" } },
          select: { label: { show: false }, itemStyle: { areaColor: "#f59e0b" } }, selectedMode: opts.selectable === false ? false : "single" },
        series,
      });
      window.addEventListener("resize", () => chart.resize());
      return { chart, info };
    });
  }

  // A small map of one grid with a point on it (the case page, the facility page). el.dataset: grid, lon, lat.
  function pointMap(el, style) {
    const s = style || {};
    return regions({ parent: el.dataset.grid, level: "grid" }).then((fc) => {
      echarts.registerMap("point-" + el.id, fc);
      const chart = echarts.init(el);
      const pt = el.dataset.lon ? [[+el.dataset.lon, +el.dataset.lat]] : [];
      chart.setOption({ animation: false, geo: { map: "point-" + el.id, roam: true, silent: true,
        itemStyle: { areaColor: "#eff6ff", borderColor: "#1e3a8a", borderWidth: 1.5 } },
        series: [{ type: "scatter", coordinateSystem: "geo", symbol: s.symbol || "pin", symbolSize: s.size || 26,
          itemStyle: { color: s.color || "#dc2626", borderColor: "#fff", borderWidth: s.symbol ? 1.5 : 0 }, data: pt }] });
      el.dataset.ready = "1";
      return chart;
    });
  }

  // The boundaries a pick map draws: the page's own file (portal), else the user's outermost region's grids.
  function pickSource(url) {
    if (url) return fetch(url).then((r) => r.json());
    return getJSON("/api/v1/regions/tree", { depth: 0 }).then((roots) => roots.length
      ? regions({ parent: roots[0].code, level: "grid", simplify: roots[0].level === "village" ? 0 : 20 }) : null);
  }

  // Pick a point on a map: a click calls onPick(lon, lat) in WGS-84; returns a promise of show(lon, lat),
  // which draws the chosen point (and, with zoom, centres on it).
  function pickMap(el, source, onPick) {
    return pickSource(source).then((fc) => {
      if (!fc) return () => {};
      echarts.registerMap("pick-" + el.id, fc);
      const chart = echarts.init(el);
      chart.setOption({ animation: false, geo: { map: "pick-" + el.id, roam: true, itemStyle: { areaColor: "#eff6ff", borderColor: "#93c5fd" },
        emphasis: { label: { show: false }, itemStyle: { areaColor: "#dbeafe" } } },
        series: [{ type: "scatter", coordinateSystem: "geo", symbolSize: 16, itemStyle: { color: "#dc2626" }, data: [] }] });
      const show = (x, y, zoom) => chart.setOption(Object.assign({ series: [{ data: [[x, y]] }] },
        zoom ? { geo: { center: [x, y], zoom } } : {}));
      chart.getZr().on("click", (e) => { const c = chart.convertFromPixel("geo", [e.offsetX, e.offsetY]); if (c) { show(c[0], c[1]); onPick(c[0], c[1]); } });
      window.addEventListener("resize", () => chart.resize());
      el.dataset.ready = "1";
      return show;
    });
  }

  // Facilities as a layer of a map: one scatter series (id "facilities") from /api/v1/registry/facilities/points,
  // symbol and colour by kind, status by the outline (faulty: thick dark ring; out of service: faded).
  // opts: region, q, status (array), kinds() → array of kinds wanted, size (symbol size), onLoad(result).
  function facilityLayer(chart, opts) {
    const STATUS = { in_service: { borderColor: "#fff", borderWidth: 1 }, faulty: { borderColor: "#111827", borderWidth: 2.5 },
      out_of_service: { borderColor: "#64748b", borderWidth: 1, opacity: 0.45 } };
    let styles = {}, statuses = {}, seq = 0;
    const series = (data) => ({ id: "facilities", type: "scatter", coordinateSystem: "geo", zlevel: 5, data,
      tooltip: { formatter: (d) => `<b>${esc(d.data.name)}</b><br>${esc((styles[d.data.kind] || {}).label)} · ${esc(statuses[d.data.status])}<br><span style="color:#64748b">${esc(d.data.code)}</span>` } });
    function load() {
      const kinds = opts.kinds();
      const mine = ++seq;
      if (!kinds.length) { chart.setOption({ series: [series([])] }); if (opts.onLoad) opts.onLoad(null); return Promise.resolve(null); }
      const q = new URLSearchParams();
      if (opts.region) q.append("region", opts.region);
      if (opts.q) q.append("q", opts.q);
      for (const s of opts.status || []) q.append("status", s);
      for (const k of kinds) q.append("kind", k);
      return fetch("/api/v1/registry/facilities/points?" + q, { credentials: "same-origin" })
        .then((r) => r.ok ? r.json() : Promise.reject(new Error("HTTP " + r.status))).then((res) => {
          if (mine !== seq) return res;  // a later toggle won
          styles = res.styles; statuses = res.statuses;
          const size = opts.size || 11;
          const data = res.features.map((f) => { const p = f.properties, st = styles[p.kind] || {};
            return { name: p.name, value: f.geometry.coordinates, id: p.id, kind: p.kind, status: p.status, code: p.code,
              symbol: st.symbol, symbolSize: st.symbol === "pin" ? size * 1.6 : size,
              itemStyle: Object.assign({ color: st.color }, STATUS[p.status]) }; });
          chart.setOption({ series: [series(data)] });
          if (opts.onLoad) opts.onLoad(res);
          return res;
        });
    }
    chart.on("click", (p) => { if (p.seriesId === "facilities" && p.data) location.href = "/registry/facilities/" + encodeURIComponent(p.data.id); });
    return { load, clear: () => { seq++; chart.setOption({ series: [series([])] }); } };
  }

  return { esc, getJSON, regions, rings, regionMap, pointMap, pickMap, facilityLayer };
})();

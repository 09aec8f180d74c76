// The add-role form: show the region picker (limited to the levels the role may be scoped at) or the
// department picker, whichever the chosen role is scoped by. Without JavaScript both show and the server checks.
(function () {
  const form = document.getElementById("add-role");
  if (!form) return;
  const role = form.querySelector("#role");
  const region = form.querySelector("#region_code");
  const hint = form.querySelector("#scope-hint");
  const names = { city: "市", district: "区县", town: "镇街", village: "村(社区)" };
  function show(scope, on) {
    form.querySelectorAll('[data-scope="' + scope + '"]').forEach((el) => { el.hidden = !on; });
  }
  function update() {
    const opt = role.selectedOptions[0];
    const levels = opt && opt.value ? opt.dataset.levels.split(" ").filter(Boolean) : [];
    const byDept = opt && opt.dataset.dept === "1";
    show("region", !byDept && levels.length > 0);
    show("department", byDept);
    region.querySelectorAll("option[data-level]").forEach((o) => {
      o.hidden = o.disabled = !levels.includes(o.dataset.level);
    });
    if (region.selectedOptions[0] && region.selectedOptions[0].disabled) region.value = "";
    hint.textContent = !opt || !opt.value ? "" : byDept ? "该角色按部门授权。"
      : levels.length ? "该角色的范围为" + levels.map((l) => names[l]).join("或") + "级区域。" : "该角色不设管辖范围。";
  }
  role.addEventListener("change", update);
  update();
})();

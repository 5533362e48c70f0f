// Progressive enhancement only: every page works without this file.
document.addEventListener("DOMContentLoaded", () => {
  // Open the test sections that hold an error and move focus to the first problem.
  document.querySelectorAll(".has-error").forEach((el) => {
    const d = el.closest("details");
    if (d) d.open = true;
  });
  const first = document.querySelector(".has-error input, .has-error select, #problems");
  if (first && first.focus) first.focus();
  document.querySelectorAll("[data-all-no]").forEach((b) => {
    b.hidden = false;
    b.addEventListener("click", () => {
      const names = new Set([...document.querySelectorAll(".screening input[type=radio]")].map((r) => r.name));
      names.forEach((n) => {
        if (!document.querySelector(`input[name="${n}"]:checked`)) {
          const no = document.querySelector(`input[name="${n}"][value=no]`);
          if (no) no.checked = true;
        }
      });
    });
  });
  document.querySelectorAll("[data-print]").forEach((b) => b.addEventListener("click", () => window.print()));
  // Ask before leaving a half-filled visit form.
  const form = document.getElementById("visit-form");
  if (form) {
    let dirty = false;
    form.addEventListener("input", () => { dirty = true; });
    form.addEventListener("submit", () => { dirty = false; });
    window.addEventListener("beforeunload", (e) => { if (dirty) { e.preventDefault(); e.returnValue = ""; } });
  }
  // Exercise picker: typing a library name selects it in the list (the list alone works without script).
  const search = document.getElementById("exercise-search");
  const pick = document.getElementById("exercise_id");
  if (search && pick) {
    search.addEventListener("change", () => {
      const hit = [...document.querySelectorAll("#exercise-list option")].find((o) => o.value === search.value);
      if (hit) pick.value = hit.dataset.id;
    });
  }
});

/* Near-duplicate groups page: pick a feature, start a run (a task), browse and export its groups. */
(function () {
  "use strict";
  const { api, h, $, showError, flash, formatDate, config } = window.VF;
  const select = $("#dup-feature");
  const groupsNode = $("#dup-groups");
  const errorNode = $("#dup-error");
  const more = $("#dup-more");
  const PAGE = 20;
  let offset = 0;

  function group(g) {
    return h(
      "section",
      { class: "panel" },
      h("h2", null, "Group " + g.group + " ", h("span", { class: "muted small" }, g.size + " items, similarity " + g.score_min.toFixed(3) + "–" + g.score_max.toFixed(3))),
      h(
        "ol",
        { class: "filmstrip" },
        ...g.media.map((m) =>
          h(
            "li",
            null,
            h("a", { href: "/media/" + m.id + "/" }, m.thumbnail_url ? h("img", { src: m.thumbnail_url, alt: "Media " + m.id, loading: "lazy", decoding: "async" }) : null, h("span", null, "#" + m.id))
          )
        ),
        g.size > g.media.length ? h("li", { class: "muted" }, "… " + (g.size - g.media.length) + " more in the export") : null
      )
    );
  }

  function threshold() {
    return $("#dup-threshold").value;
  }

  async function browse(append) {
    showError(errorNode, null);
    if (!select.value) return;
    if (!append) offset = 0;
    try {
      const query = { offset, limit: PAGE };
      const res = await api("feature/" + select.value + "/duplicates/", { query: append || !browse.useThreshold ? query : { ...query, threshold: threshold() } });
      const run = res.run;
      $("#dup-run").textContent = run
        ? "Latest run: " + formatDate(run.created_at) + ", " + run.item_count + " items, k=" + run.k + ", kept from " + run.threshold + " up, " + run.seconds + " s. At ≥ " + res.threshold + ": " + res.count + " groups."
        : "No run for this feature yet: start one.";
      if (!append && run && !browse.useThreshold) $("#dup-threshold").value = res.threshold;
      const base = config.api + "feature/" + select.value + "/duplicates/?threshold=" + res.threshold + "&export=";
      $("#dup-csv").href = base + "csv";
      $("#dup-json").href = base + "json";
      $("#dup-export").hidden = !run;
      const nodes = res.results.map(group);
      if (append) groupsNode.append(...nodes);
      else groupsNode.replaceChildren(...nodes);
      offset += res.results.length;
      more.hidden = offset >= res.count;
    } catch (err) {
      showError(errorNode, err);
    }
  }

  async function features() {
    try {
      const res = await api("feature/", { query: { limit: 200 } });
      const wanted = new URLSearchParams(location.search).get("feature");
      select.replaceChildren(...res.results.map((f) => h("option", { value: f.id, selected: String(f.id) === wanted }, "#" + f.id + " " + f.modelzoo_name + " (" + f.item_count + " items)")));
      browse.useThreshold = false;
      await browse(false);
    } catch (err) {
      showError(errorNode, err);
    }
  }

  select.addEventListener("change", () => {
    browse.useThreshold = false;
    browse(false);
  });
  $("#dup-browse").addEventListener("click", () => {
    browse.useThreshold = true;
    browse(false);
  });
  more.addEventListener("click", () => browse(true));
  $("#dup-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(errorNode, null);
    try {
      await api("feature/" + select.value + "/duplicates/", { method: "POST", json: { threshold: Number(threshold()), k: Number($("#dup-k").value) } });
      flash("Started: the run is listed with your tasks on the dashboard; showing it here when done.");
      setTimeout(() => {
        browse.useThreshold = false;
        browse(false);
      }, 3000);
    } catch (err) {
      showError(errorNode, err);
    }
  });
  features();
})();

/* Near-duplicate groups page: pick a feature, start a run (a task, followed over the
 * websocket), browse its groups at any threshold from the run's up, and act on each
 * group: add it to a collection, mark it reviewed, keep one member. */
(function () {
  "use strict";
  const { api, h, $, showError, flash, formatDate, config, current } = window.VF;
  const select = $("#dup-feature");
  const groupsNode = $("#dup-groups");
  const errorNode = $("#dup-error");
  const more = $("#dup-more");
  const thresholdInput = $("#dup-threshold");
  const collectionSelect = $("#dup-collection");
  const hideReviewed = $("#dup-hide-reviewed");
  const PAGE = 20;
  let offset = 0;
  let useThreshold = false; // browse at the input's threshold rather than the run's
  let waitingFor = null; // the run this page started, until it ends
  // Reviews this page saved, by group key: a page of groups fetched while a review was
  // being saved (a run ending, "Browse") must not show the group as it was before it.
  const saved = new Map();
  const keyOf = (g) => g.media_ids.join(",");

  // --- one group ---------------------------------------------------------------------------------

  function reviewLine(g) {
    const r = g.review;
    if (!r) return h("span", { class: "review muted small" }, "Not reviewed");
    return h(
      "span",
      { class: "review small" },
      h("span", { class: "badge state-done" }, "reviewed"),
      " by " + (r.reviewed_by || "—") + ", " + formatDate(r.reviewed_at) + (r.keep ? " · keep #" + r.keep : "")
    );
  }

  async function review(g, node, fields) {
    showError(errorNode, null);
    try {
      const res = await api("feature/" + select.value + "/duplicates/review/", { method: "POST", json: { media_ids: g.media_ids, ...fields } });
      g.review = res;
      saved.set(keyOf(g), res);
      // The group as shown now: the page may have been fetched again meanwhile.
      const shown = [...groupsNode.querySelectorAll(".dup-group")].find((n) => n.dataset.groupKey === keyOf(g)) || node;
      shown.replaceWith(group(g));
      countHidden();
      flash(res ? "Group " + g.group + " marked reviewed" + (res.keep ? ", keeping #" + res.keep + "." : ".") : "Group " + g.group + " is no longer marked reviewed.");
    } catch (err) {
      showError(errorNode, "Could not save the review: " + err.message);
    }
  }

  async function addGroup(g, button) {
    showError(errorNode, null);
    const option = collectionSelect.selectedOptions[0];
    if (!collectionSelect.value) {
      showError(errorNode, "Choose the collection to add groups to first (“Add groups to”, above).");
      collectionSelect.focus();
      return;
    }
    button.disabled = true;
    let added = 0;
    try {
      for (const mediaId of g.media_ids) {
        await api("collection/" + collectionSelect.value + "/media/", { method: "POST", json: { media_id: mediaId } });
        added += 1;
      }
      flash("Added the " + g.media_ids.length + " items of group " + g.group + " to “" + option.dataset.title + "”.");
      button.textContent = "✓ In “" + option.dataset.title + "”";
      const res = await api("collection/" + collectionSelect.value + "/", { query: { limit: 1 } });
      option.textContent = res.title + " (" + res.item_count + ")";
    } catch (err) {
      showError(errorNode, "Added " + added + " of " + g.media_ids.length + " items, then: " + err.message);
      button.disabled = false;
    }
  }

  function member(g, m, node) {
    const keep = g.review && g.review.keep;
    const kept = keep === m.id;
    const keepButton = h("button", { type: "button", class: "small keep", "aria-pressed": kept ? "true" : "false", title: "Keep this one: the others are its copies (nothing is deleted)" }, kept ? "✓ Kept" : "Keep");
    keepButton.addEventListener("click", () => review(g, node, { reviewed: true, keep: kept ? null : m.id }));
    return h(
      "li",
      { class: kept ? "kept" : keep ? "copy-of-kept" : null, dataset: { mediaId: m.id } },
      h("a", { href: "/media/" + m.id + "/" }, m.thumbnail_url ? h("img", { src: m.thumbnail_url, alt: "Media " + m.id, loading: "lazy", decoding: "async" }) : null, h("span", null, "#" + m.id)),
      keepButton
    );
  }

  function group(g) {
    if (saved.has(keyOf(g))) g.review = saved.get(keyOf(g));
    const node = h("section", { class: "panel dup-group" + (g.review ? " reviewed" : ""), dataset: { groupKey: keyOf(g), group: g.group, size: g.size } });
    const collectionTitle = collectionSelect.value ? collectionSelect.selectedOptions[0].dataset.title : "";
    const add = h("button", { type: "button", class: "small add-group" }, collectionTitle ? "Add all " + g.size + " to “" + collectionTitle + "”" : "Add all " + g.size + " to a collection");
    add.addEventListener("click", () => addGroup(g, add));
    const mark = h("button", { type: "button", class: "small mark-reviewed", "aria-pressed": g.review ? "true" : "false" }, g.review ? "Reviewed (undo)" : "Mark reviewed");
    mark.addEventListener("click", () => review(g, node, g.review ? { reviewed: false } : { reviewed: true, keep: null }));
    node.append(
      h("h2", null, "Group " + g.group + " ", h("span", { class: "muted small" }, g.size + " items, similarity " + g.score_min.toFixed(3) + "–" + g.score_max.toFixed(3))),
      h("p", { class: "dup-actions" }, add, mark, reviewLine(g)),
      h(
        "ol",
        { class: "filmstrip" },
        ...g.media.map((m) => member(g, m, node)),
        g.size > g.media.length ? h("li", { class: "muted" }, "… " + (g.size - g.media.length) + " more in the export") : null
      )
    );
    node.hidden = Boolean(g.review && hideReviewed.checked);
    return node;
  }

  // --- the page of groups ----------------------------------------------------------------------

  async function browse(append) {
    showError(errorNode, null);
    if (!select.value) return;
    if (!append) offset = 0;
    try {
      const query = { offset, limit: PAGE };
      if (useThreshold && thresholdInput.value !== "") query.threshold = thresholdInput.value;
      const res = await api("feature/" + select.value + "/duplicates/", { query });
      const run = res.run;
      $("#dup-default-help").textContent = "This feature's model groups from " + res.default_threshold + " by default (measured for the model), so a run without a threshold uses that.";
      $("#dup-run").textContent = run
        ? "Latest run: " + formatDate(run.created_at) + ", " + run.item_count + " items, k=" + run.k + ", kept from " + run.threshold + " up, " + run.seconds + " s. At ≥ " + res.threshold + ": " + res.count + (res.count === 1 ? " group." : " groups.")
        : "No run for this feature yet: “Find near-duplicates” starts one at " + res.default_threshold + ".";
      if (!append && !useThreshold) thresholdInput.value = res.threshold;
      const base = config.api + "feature/" + select.value + "/duplicates/?threshold=" + res.threshold + "&export=";
      $("#dup-csv").href = base + "csv";
      $("#dup-json").href = base + "json";
      $("#dup-export").hidden = !run;
      const nodes = res.results.map(group);
      if (append) groupsNode.append(...nodes);
      else groupsNode.replaceChildren(...nodes);
      if (!append && run && !res.count) groupsNode.replaceChildren(h("p", { class: "muted" }, "No group at this threshold."));
      offset += res.results.length;
      more.hidden = offset >= res.count;
      countHidden();
    } catch (err) {
      showError(errorNode, err);
    }
  }

  async function features() {
    try {
      const res = await api("feature/", { query: { limit: 200 } });
      const wanted = new URLSearchParams(location.search).get("feature");
      select.replaceChildren(...res.results.map((f) => h("option", { value: f.id, selected: String(f.id) === wanted }, "#" + f.id + " " + f.modelzoo_name + " (" + f.item_count + " items)")));
      useThreshold = false;
      await browse(false);
    } catch (err) {
      showError(errorNode, err);
    }
  }

  async function collections() {
    try {
      const res = await api("collection/", { query: { archived: "false", limit: config.maxPageSize, sort: "date", order: "desc" } });
      collectionSelect.append(...res.results.map((c) => h("option", { value: c.id, dataset: { title: c.title } }, c.title + " (" + c.item_count + ")")));
      const chosen = current.get();
      if (chosen && res.results.some((c) => c.id === chosen.id)) collectionSelect.value = String(chosen.id);
    } catch (err) {
      showError(errorNode, err);
    }
  }

  // --- runs: started here, followed over the websocket -----------------------------------------

  function runEnded(state, error) {
    waitingFor = null;
    $("#dup-run-button").disabled = false;
    // data-run-state: "running", then "finished" once its groups are shown, or "failed".
    if (state === "SUCCESS") {
      flash("The near-duplicate run finished.");
      useThreshold = false;
      browse(false).then(() => ($("#dup-run").dataset.runState = "finished"));
    } else {
      $("#dup-run").dataset.runState = "failed";
      showError(errorNode, state === "FAILURE" ? "The run failed: " + (error || "no reason given") : "The run was cancelled.");
    }
  }

  async function checkRun(taskId) {
    try {
      const run = await api("task/" + taskId + "/");
      if (waitingFor === taskId && ["SUCCESS", "FAILURE", "REVOKED"].includes(run.state)) runEnded(run.state, run.error);
    } catch (err) {
      showError(errorNode, err);
    }
  }

  VF.events(
    (event) => {
      if (!waitingFor || event.task_id !== waitingFor) return;
      if (event.event === "progress") $("#dup-run").textContent = "Running: " + event.current + " / " + event.total + (event.message ? " · " + event.message : "");
      else if (event.event === "finished") runEnded("SUCCESS");
      else if (event.event === "failed") runEnded("FAILURE", event.error);
      else if (event.event === "cancelled") runEnded("REVOKED");
    },
    (state) => {
      // Reconnected: the end of the run may have gone by meanwhile.
      if (state === "live" && waitingFor) checkRun(waitingFor);
    }
  );

  select.addEventListener("change", () => {
    useThreshold = false;
    browse(false);
  });
  $("#dup-browse").addEventListener("click", () => {
    useThreshold = true;
    browse(false);
  });
  collectionSelect.addEventListener("change", () => {
    const title = collectionSelect.value ? collectionSelect.selectedOptions[0].dataset.title : "";
    for (const button of groupsNode.querySelectorAll("button.add-group")) {
      const size = button.closest(".dup-group").dataset.size;
      button.disabled = false;
      button.textContent = "Add all " + size + " to " + (title ? "“" + title + "”" : "a collection");
    }
  });
  function countHidden() {
    const hidden = groupsNode.querySelectorAll(".dup-group.reviewed").length;
    const note = $("#dup-hidden");
    note.hidden = !(hideReviewed.checked && hidden);
    note.textContent = hidden + (hidden === 1 ? " reviewed group is" : " reviewed groups are") + " hidden on this page.";
  }
  hideReviewed.addEventListener("change", () => {
    for (const node of groupsNode.querySelectorAll(".dup-group.reviewed")) node.hidden = hideReviewed.checked;
    countHidden();
  });
  more.addEventListener("click", () => browse(true));
  $("#dup-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(errorNode, null);
    const body = { k: Number($("#dup-k").value) };
    if (thresholdInput.value !== "") body.threshold = Number(thresholdInput.value);
    try {
      const run = await api("feature/" + select.value + "/duplicates/", { method: "POST", json: body });
      waitingFor = run.id;
      $("#dup-run-button").disabled = true;
      $("#dup-run").textContent = "Running…";
      $("#dup-run").dataset.runState = "running";
      checkRun(run.id); // a small index may be done before its events could arrive
    } catch (err) {
      showError(errorNode, err);
    }
  });
  collections().then(features);
})();

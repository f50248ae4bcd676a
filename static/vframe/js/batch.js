/* Batch reverse search page: send images and/or ZIPs to search/batch/, follow the run over
 * the websocket (ws/v1/events/), then link its report. Past runs come from task/recent/. */
(function () {
  "use strict";
  const { api, h, $, showError, flash, formatBytes, formatDate, config } = window.VF;

  const form = $("#batch-form");
  const input = $("#batch-files");
  const drop = $("#batch-drop");
  const start = $("#batch-start");
  const errorNode = $("#batch-error");
  const runPanel = $("#batch-run");
  const progress = $("#batch-progress");
  let chosen = [];
  let watching = null; // the task id this page started
  let finishedShown = false;

  const isZip = (file) => /\.zip$/i.test(file.name) || file.type === "application/zip" || file.type === "application/x-zip-compressed";

  function setFiles(files) {
    chosen = [...files];
    const zips = chosen.filter(isZip).length;
    const images = chosen.length - zips;
    const bytes = chosen.reduce((sum, f) => sum + f.size, 0);
    $("#batch-chosen").textContent = chosen.length
      ? [images ? images + " image" + (images === 1 ? "" : "s") : "", zips ? zips + " ZIP" + (zips === 1 ? "" : "s") : ""].filter(Boolean).join(" and ") + ", " + formatBytes(bytes) + " in all."
      : "No files chosen.";
    start.disabled = !chosen.length;
    showError(errorNode, null);
    if (config.batchMaxBytes && bytes > config.batchMaxBytes) {
      // Said before sending: the server would refuse the whole request anyway.
      showError(errorNode, "These files are " + formatBytes(bytes) + ", above this server's batch limit of " + formatBytes(config.batchMaxBytes) + ": send fewer at a time.");
      start.disabled = true;
    }
  }

  input.addEventListener("change", () => setFiles(input.files));
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    if (event.dataTransfer && event.dataTransfer.files.length) setFiles(event.dataTransfer.files);
  });
  drop.addEventListener("click", (event) => {
    if (event.target === drop || event.target.tagName === "P") input.click();
  });
  drop.addEventListener("keydown", (event) => {
    if (event.target === drop && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      input.click();
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!chosen.length) return;
    showError(errorNode, null);
    const body = new FormData();
    for (const file of chosen) body.append(isZip(file) ? "zip" : "files", file, file.name);
    const k = $("#batch-k").value;
    const minScore = $("#batch-min-score").value;
    const feature = $("#batch-feature").value;
    if (k) body.append("k", k);
    if (minScore !== "") body.append("min_score", minScore);
    if (feature) body.append("feature", feature);
    start.disabled = true;
    start.textContent = "Sending…";
    try {
      const res = await api("search/batch/", { method: "POST", form: body });
      watch(res.task_id, res.queries);
      showSkipped(res.skipped, res.skipped_count);
      flash("Batch search started: " + res.queries + " image" + (res.queries === 1 ? "" : "s") + " to search.");
      input.value = "";
      setFiles([]);
    } catch (err) {
      showError(errorNode, "The batch search was not started: " + err.message);
      start.disabled = false;
    } finally {
      start.textContent = "Start the batch search";
    }
  });

  function showSkipped(skipped, count) {
    const box = $("#batch-skipped-box");
    box.hidden = !count;
    if (!count) return;
    $("#batch-skipped-summary").textContent = count + " file" + (count === 1 ? " was" : "s were") + " skipped (not usable images): why";
    $("#batch-skipped").replaceChildren(...(skipped || []).map((s) => h("li", null, h("strong", null, s.name), " — ", s.message || s.code)));
    if (skipped && count > skipped.length) $("#batch-skipped").append(h("li", { class: "muted" }, "… and " + (count - skipped.length) + " more."));
  }

  function watch(taskId, total) {
    watching = taskId;
    finishedShown = false;
    runPanel.hidden = false;
    runPanel.dataset.taskId = taskId;
    $("#batch-report").hidden = true;
    progress.max = Math.max(1, total || 1);
    progress.value = 0;
    $("#batch-state").textContent = "Waiting to start…";
    $("#batch-message").textContent = "";
    runPanel.scrollIntoView({ block: "nearest" });
    // The run may end before the socket hears of it: ask once it is connected, too.
    refresh(taskId);
  }

  function reportLinks(report, extra) {
    const links = [];
    if (report.html) links.push(h("a", { href: report.html, class: "button primary report-html", target: "_blank", rel: "noopener" }, "Open the report"));
    if (report.csv) links.push(h("a", { href: report.csv, class: "button report-csv" }, "CSV"));
    if (report.zip) links.push(h("a", { href: report.zip, class: "button report-zip" }, "ZIP (report and matches)"));
    if (extra) links.push(h("span", { class: "muted small" }, " " + extra));
    return links;
  }

  function showFinished(run) {
    if (finishedShown) return;
    finishedShown = true;
    const r = run.result || {};
    progress.value = progress.max;
    $("#batch-state").textContent = "Done: " + (r.queries_with_matches ?? "?") + " of " + (r.queries ?? "?") + " images matched something (" + (r.matches ?? 0) + " matches).";
    const report = $("#batch-report");
    report.replaceChildren(...reportLinks(r.report || {}));
    report.hidden = false;
    showSkipped(r.skipped, r.skipped_count);
    loadRecent();
  }

  function showFailed(message) {
    $("#batch-state").textContent = "";
    showError(errorNode, "The batch search failed: " + (message || "no reason given"));
    loadRecent();
  }

  async function refresh(taskId) {
    try {
      const run = await api("task/" + taskId + "/");
      if (taskId !== watching) return;
      if (run.state === "SUCCESS") showFinished(run);
      else if (run.state === "FAILURE") showFailed(run.error);
      else if (run.state === "REVOKED") $("#batch-state").textContent = "Cancelled.";
      else if (run.progress && run.progress.total) onProgress(run.progress.current, run.progress.total, run.progress.message);
    } catch (err) {
      showError(errorNode, err);
    }
  }

  function onProgress(current, total, message) {
    progress.max = Math.max(1, total);
    progress.value = Math.min(current, progress.max);
    $("#batch-state").textContent = "Searching: " + current + " of " + total + " images…";
    $("#batch-message").textContent = message || "";
  }

  function onEvent(event) {
    if (event.task_name === "batch_search" && (event.event === "finished" || event.event === "failed")) loadRecent();
    if (!watching || event.task_id !== watching) return;
    if (event.event === "started") $("#batch-state").textContent = "Started…";
    else if (event.event === "progress") onProgress(event.current, event.total, event.message);
    else if (event.event === "finished") showFinished({ result: event.result });
    else if (event.event === "failed") showFailed(event.error);
    else if (event.event === "cancelled") $("#batch-state").textContent = "Cancelled.";
  }

  function onState(state) {
    if (state === "live" && watching && !finishedShown) refresh(watching);
  }

  async function loadRecent() {
    const list = $("#batch-recent");
    try {
      const res = await api("task/recent/", { query: { limit: 100, sort: "date", order: "desc" } });
      const runs = res.results.filter((r) => r.name === "batch_search").slice(0, 10);
      list.replaceChildren(
        ...(runs.length
          ? runs.map((run) => {
              const r = run.result || {};
              const what = run.state === "SUCCESS" ? r.queries + " images, " + r.matches + " matches" : run.state === "FAILURE" ? "failed: " + (run.error || "") : "running";
              return h(
                "li",
                { class: "batch-past", dataset: { taskId: run.id } },
                h("span", null, formatDate(run.created_at) + " · " + what + " "),
                run.state === "SUCCESS" && r.report ? reportLinks(r.report) : null
              );
            })
          : [h("li", { class: "muted" }, "None yet.")])
      );
      for (const a of list.querySelectorAll("a.button")) {
        a.classList.remove("primary");
        a.classList.add("small");
      }
    } catch (err) {
      list.replaceChildren(h("li", { class: "error" }, err.message));
    }
  }

  async function loadFeatures() {
    try {
      const res = await api("feature/", { query: { limit: config.maxPageSize } });
      const select = $("#batch-feature");
      select.append(...res.results.filter((f) => f.has_index).map((f) => h("option", { value: f.id }, "Feature " + f.id + " · " + f.modelzoo_name)));
    } catch (err) {
      showError(errorNode, err);
    }
  }

  if (config.batchMaxBytes) {
    $("#batch-limits").textContent = "Up to " + formatBytes(config.batchMaxBytes) + " per batch" + (config.batchMaxMembers ? ", " + config.batchMaxMembers + " files per ZIP" : "") + ".";
  }
  loadFeatures();
  loadRecent();
  VF.events(onEvent, onState);
})();

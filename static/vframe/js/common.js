/* VFRAME Search pages: what every page script shares.
 *
 * VF.api() is the one way pages talk to the server: the REST API under /api/v1/ with
 * the session cookie, the CSRF token on writes, and the API's error envelope turned
 * into an ApiError whose message is the API's own (so the page can show why).
 * VF.events() is the live task stream (ws/v1/events/), reconnecting on its own.
 * Everything here builds DOM nodes with textContent, never HTML from data.
 */
(function () {
  "use strict";

  const configNode = document.getElementById("vframe-config");
  const config = configNode ? JSON.parse(configNode.textContent) : { api: "/api/v1/" };

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  class ApiError extends Error {
    constructor(message, status, code, fields) {
      super(message);
      this.name = "ApiError";
      this.status = status;
      this.code = code || "";
      this.fields = fields || null;
    }
  }

  // {"params": {"steps": ["..."]}, "title": ["..."]} -> ["params.steps: ...", "title: ..."]
  function flattenFields(fields, prefix) {
    const out = [];
    if (!fields || typeof fields !== "object") return out;
    for (const [key, value] of Object.entries(fields)) {
      const name = prefix ? prefix + "." + key : key;
      if (Array.isArray(value)) {
        for (const item of value) {
          if (item && typeof item === "object") out.push(...flattenFields(item, name));
          else out.push(name + ": " + item);
        }
      } else if (value && typeof value === "object") {
        out.push(...flattenFields(value, name));
      } else {
        out.push(name + ": " + value);
      }
    }
    return out;
  }

  function apiUrl(path, query) {
    const url = new URL(config.api + String(path).replace(/^\/+/, ""), location.origin);
    if (query) {
      for (const [key, value] of Object.entries(query)) {
        if (value !== undefined && value !== null && value !== "" && value !== false) url.searchParams.set(key, value);
      }
    }
    return url;
  }

  async function request(url, { method = "GET", json, form, body } = {}) {
    const headers = { Accept: "application/json" };
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    } else if (form !== undefined) {
      body = form;
    }
    if (method !== "GET" && method !== "HEAD") headers["X-CSRFToken"] = csrfToken();
    let response;
    try {
      response = await fetch(url, { method, headers, body, credentials: "same-origin" });
    } catch (err) {
      throw new ApiError("The server could not be reached (" + err.message + "). Check your connection and try again.", 0, "network");
    }
    let payload = null;
    if ((response.headers.get("Content-Type") || "").includes("json")) {
      try {
        payload = await response.json();
      } catch (err) {
        payload = null;
      }
    }
    if (response.ok && payload && payload.status === "ok") return payload.res;
    const error = payload && payload.error;
    if (response.status === 401 || (response.status === 403 && error && error.code === "not_authenticated")) {
      throw new ApiError("Your session has ended: reload the page to log in again.", response.status, "not_authenticated");
    }
    let message = error && error.message ? String(error.message) : "";
    if (!message) {
      if (response.status === 413) message = "The file is too large for this server.";
      else if (response.redirected || response.status === 302) message = "Your session has ended: reload the page to log in again.";
      else message = "The request failed (HTTP " + response.status + ").";
    }
    const details = flattenFields(error && error.fields).filter((line) => !message.includes(line.split(": ").slice(1).join(": ")));
    if (details.length) message += " " + details.join("; ");
    throw new ApiError(message, response.status, error && error.code, error && error.fields);
  }

  /** Call the REST API: api("search/media/3/", {query: {limit: 30}}) resolves to the envelope's res. */
  function api(path, options = {}) {
    return request(apiUrl(path, options.query), options);
  }

  /** A page-side endpoint (not the API) that answers the same envelope. */
  function post(url, form) {
    return request(new URL(url, location.origin), { method: "POST", form });
  }

  // --- DOM helpers -----------------------------------------------------------------------------

  /** h("a", {href: "/x", class: "button"}, "text", otherNode) */
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    if (attrs) {
      for (const [key, value] of Object.entries(attrs)) {
        if (value === undefined || value === null || value === false) continue;
        if (key === "class") node.className = value;
        else if (key === "text") node.textContent = value;
        else if (key === "dataset") Object.assign(node.dataset, value);
        // Through the CSSOM: the Content-Security-Policy refuses style attributes.
        else if (key === "style") node.style.cssText = value;
        else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
        else if (value === true) node.setAttribute(key, "");
        else node.setAttribute(key, String(value));
      }
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function $(selector, root) {
    return (root || document).querySelector(selector);
  }

  /** Show err (an Error or a string) in the given role=alert element; null hides it. */
  function showError(node, err) {
    if (!node) return;
    if (!err) {
      node.hidden = true;
      node.textContent = "";
      return;
    }
    node.textContent = typeof err === "string" ? err : err.message || String(err);
    node.hidden = false;
  }

  let flashTimer = null;
  /** A short confirmation in the page's status region ("Added to …"). */
  function flash(message) {
    const node = document.getElementById("flash");
    if (!node) return;
    node.textContent = message;
    node.classList.add("shown");
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => node.classList.remove("shown"), 4000);
  }

  /** A button that asks once more before a destructive action (no modal dialogs). */
  function confirmButton(button, label, action) {
    let armed = false;
    let timer = null;
    const original = button.textContent;
    button.addEventListener("click", async () => {
      if (!armed) {
        armed = true;
        button.textContent = label;
        button.classList.add("armed");
        timer = setTimeout(() => {
          armed = false;
          button.textContent = original;
          button.classList.remove("armed");
        }, 5000);
        return;
      }
      clearTimeout(timer);
      armed = false;
      button.textContent = original;
      button.classList.remove("armed");
      await action();
    });
  }

  // --- formatting ------------------------------------------------------------------------------

  function formatBytes(bytes) {
    if (bytes === null || bytes === undefined) return "—";
    const units = ["B", "KB", "MB", "GB", "TB", "PB"];
    let value = Number(bytes);
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return (unit ? value.toFixed(value < 10 ? 1 : 0) : String(value)) + " " + units[unit];
  }

  /** Seconds as a video player shows them: 0:02.5, 1:02:03.0 */
  function formatSeconds(seconds) {
    if (seconds === null || seconds === undefined) return "";
    let secs = Math.max(0, Number(seconds));
    const hours = Math.floor(secs / 3600);
    secs -= hours * 3600;
    const minutes = Math.floor(secs / 60);
    secs -= minutes * 60;
    const s = secs.toFixed(1).padStart(4, "0");
    return hours ? hours + ":" + String(minutes).padStart(2, "0") + ":" + s : minutes + ":" + s;
  }

  function formatDate(iso) {
    if (!iso) return "";
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return iso;
    return date.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  }

  function mediaLabel(media) {
    if (!media) return "";
    if (media.media_type === "video_frame") return "Frame " + formatSeconds(media.timestamp) + " of video " + media.parent;
    if (media.media_type === "video") return "Video " + media.id;
    return "Image " + media.id;
  }

  // --- the current collection (search results are added to it in one click) --------------------

  const CURRENT_KEY = "vframe.currentCollection";

  const current = {
    get() {
      try {
        const raw = localStorage.getItem(CURRENT_KEY);
        return raw ? JSON.parse(raw) : null;
      } catch (err) {
        return null;
      }
    },
    set(collection) {
      try {
        if (collection) localStorage.setItem(CURRENT_KEY, JSON.stringify({ id: collection.id, title: collection.title }));
        else localStorage.removeItem(CURRENT_KEY);
      } catch (err) {
        /* private mode: the choice lasts for this page only */
      }
    },
    /** Media ids in the collection, read page by page (the list API caps a page). */
    async memberIds(collectionId) {
      const ids = new Set();
      const limit = config.maxPageSize || 500;
      for (let offset = 0; ; offset += limit) {
        const res = await api("collection/" + collectionId + "/", { query: { offset, limit } });
        for (const item of res.items.results) ids.add(item.media_id);
        if (offset + limit >= res.items.count) return { ids, collection: res };
      }
    },
  };

  // --- live task events ------------------------------------------------------------------------

  /**
   * Connect to ws/v1/events/ and call onEvent(event) for each message; onState(state)
   * with "connecting", "live", "closed" or "unavailable". Reconnects with a growing
   * delay. Returns {close()}.
   */
  function events(onEvent, onState) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const url = scheme + "//" + location.host + "/ws/v1/events/";
    let socket = null;
    let delay = 1000;
    let stopped = false;
    let timer = null;
    const state = (s, detail) => onState && onState(s, detail);

    function connect() {
      state("connecting");
      socket = new WebSocket(url);
      socket.addEventListener("open", () => {
        delay = 1000;
      });
      socket.addEventListener("message", (message) => {
        let event;
        try {
          event = JSON.parse(message.data);
        } catch (err) {
          return;
        }
        if (event.event === "hello") state("live");
        else if (event.event === "error") state("unavailable", event.message);
        else onEvent(event);
      });
      socket.addEventListener("close", (close) => {
        socket = null;
        if (stopped) return;
        state(close.code === 4503 ? "unavailable" : "closed");
        timer = setTimeout(connect, delay);
        delay = Math.min(delay * 2, 15000);
      });
    }
    connect();
    window.addEventListener("pagehide", () => {
      stopped = true;
      clearTimeout(timer);
      if (socket) socket.close();
    });
    return {
      close() {
        stopped = true;
        clearTimeout(timer);
        if (socket) socket.close();
      },
    };
  }

  window.VF = { config, api, post, ApiError, h, $, showError, flash, confirmButton, formatBytes, formatSeconds, formatDate, mediaLabel, current, events };
})();

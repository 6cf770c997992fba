// The /live/ page: the user's open tasks, kept current over /ws/sync/ (DESIGN.md section 8).
//
// How a browser uses the protocol: load the state (REST, session cookie), connect with the
// cursor the page was rendered with, apply every update frame and remember its cursor, answer
// pings, and after a drop reconnect with the last cursor seen: the server replays what was
// missed. `resync_required` means the cursor is too old: load the state again.
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("sync-config").textContent);
  var list = document.getElementById("tasks");
  var empty = document.getElementById("empty");
  var statusText = document.getElementById("sync-status");

  var BACKOFF_BASE_MS = 1000;   // the first reconnect comes within a second
  var BACKOFF_MAX_MS = 30000;

  var state = {
    cursor: config.cursor,   // last cursor applied; sent back as ?cursor= on reconnect
    tasks: new Map(),        // id -> task (open ones only)
    versions: new Map(),     // id -> highest version seen (Infinity once deleted)
    socket: null,
    attempts: 0,
    loading: false,
    queued: [],              // frames that arrived while the state was loading
  };
  window.syncState = state;  // for debugging and the browser test

  function setStatus(name, text) {
    document.body.dataset.syncStatus = name;
    statusText.textContent = text;
  }

  function applyTask(type, task) {
    var known = state.versions.get(task.id);
    var version = type === "task.deleted" ? Infinity : task.version || 0;
    if (known !== undefined && known > version) {
      return;  // an older snapshot than the one shown (replay after a fresh load)
    }
    state.versions.set(task.id, version);
    if (type === "task.deleted" || task.status !== "open") {
      state.tasks.delete(task.id);
    } else {
      state.tasks.set(task.id, task);
    }
  }

  function render() {
    var tasks = Array.from(state.tasks.values()).sort(function (a, b) {
      var da = a.due_at || "\uffff", db = b.due_at || "\uffff";
      return da < db ? -1 : da > db ? 1 : a.created_at < b.created_at ? -1 : 1;
    });
    var items = tasks.map(function (task) {
      var li = document.createElement("li");
      li.dataset.taskId = task.id;
      var title = document.createElement("span");
      title.className = "title";
      title.textContent = task.title;  // textContent: user content is never parsed as HTML
      var priority = document.createElement("span");
      priority.className = "priority priority-" + task.priority;
      priority.textContent = task.priority;
      li.append(title, priority);
      if (task.due_at) {
        var due = document.createElement("time");
        due.className = "due";
        due.dateTime = task.due_at;
        due.textContent = new Date(task.due_at).toLocaleString();
        li.append(due);
      }
      return li;
    });
    list.replaceChildren.apply(list, items);
    empty.hidden = items.length > 0;
    document.body.dataset.cursor = state.cursor;
  }

  function loadTasks() {
    state.loading = true;
    var fresh = new Map();
    function page(url) {
      return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) { throw new Error("task list: HTTP " + response.status); }
          return response.json();
        })
        .then(function (body) {
          body.results.forEach(function (task) { fresh.set(task.id, task); });
          return body.next ? page(body.next) : null;
        });
    }
    return page(config.tasks_url).then(function () {
      state.tasks = new Map();
      state.versions = new Map();
      fresh.forEach(function (task) { applyTask("task.snapshot", task); });
      state.loading = false;
      var queued = state.queued;
      state.queued = [];
      queued.forEach(handleFrame);
      render();
    }, function (error) {
      state.loading = false;
      throw error;
    });
  }

  function handleFrame(frame) {
    if (state.loading && frame.type.indexOf("task.") === 0) {
      state.queued.push(frame);
      return;
    }
    switch (frame.type) {
      case "task.created":
      case "task.updated":
      case "task.completed":
      case "task.reopened":
      case "task.deleted":
        applyTask(frame.type, frame.task);
        state.cursor = frame.cursor;
        render();
        break;
      case "ready":
        state.cursor = frame.cursor;
        state.attempts = 0;
        setStatus("live", "live");
        render();
        break;
      case "resync_required":
        state.cursor = frame.cursor;
        setStatus("resyncing", "reloading…");
        loadTasks().then(function () { setStatus("live", "live"); }, console.error);
        break;
      case "ping":
        send({ type: "pong" });
        break;
      case "error":
        console.warn("sync error", frame.code, frame.message);
        break;
      default:
        break;  // types added later are ignored, not fatal
    }
  }

  function send(message) {
    if (state.socket && state.socket.readyState === WebSocket.OPEN) {
      state.socket.send(JSON.stringify(message));
    }
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var url = scheme + location.host + config.socket_path + "?cursor=" + encodeURIComponent(state.cursor);
    var socket = new WebSocket(url);  // the session cookie authenticates it
    state.socket = socket;
    socket.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (error) { return; }
      handleFrame(frame);
    };
    socket.onclose = function (event) {
      if (state.socket !== socket) { return; }
      state.socket = null;
      if (event.code === 4401) {
        setStatus("signed-out", "signed out: reload the page after signing in");
        return;
      }
      // Exponential backoff with full jitter: after a restart or a 1011 close every tab of every
      // user reconnects, and a uniform draw over the whole window spreads them out; a server
      // that refused us (503, close 1013) is overloaded, so its window starts wider.
      if (event.code === 1013) { state.attempts = Math.max(state.attempts, 2); }
      var delay = Math.random() * Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * Math.pow(2, state.attempts));
      state.attempts += 1;
      setStatus("reconnecting", "reconnecting…");
      setTimeout(connect, delay);
    };
  }

  setStatus("loading", "loading…");
  loadTasks().then(connect, function (error) {
    setStatus("error", "could not load tasks");
    console.error(error);
  });
})();

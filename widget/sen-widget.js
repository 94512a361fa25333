/*
 * SEN Support Assistant: the website widget.
 *
 * Embed with one tag (all data-* settings are optional but data-server):
 *   <script src="https://assistant.example.org/widget/sen-widget.js" defer
 *           data-server="https://assistant.example.org"   the Rasa server (socket.io channel)
 *           data-title="Ask about SEN Support"             the launcher's and panel's title
 *           data-color="#1d4f91"                          main colour (needs 4.5:1 against white)
 *           data-lang="en"                                language of the widget's text
 *           data-privacy-url="/privacy"></script>         the service's privacy notice
 *
 * Everything a parent, the bot or an adviser writes is put on the page with textContent (never as
 * HTML); only http, https, mailto and tel links are made clickable.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || window.SENWidget) return;

  var MAX_CHARS = 4000;
  var RATE_LIMITED_TEXT =
    "You're sending messages very quickly. Please wait a moment and try again.";
  var QUEUE_POLL_MS = 15000;
  var SAFE_PROTOCOLS = ["http:", "https:", "mailto:", "tel:"];
  var DEFAULT_COLOR = "#1d4f91";
  var base = new URL(".", script.src).href;
  var data = script.dataset;

  var config = {
    server: (data.server || new URL(script.src).origin).replace(/\/+$/, ""),
    title: data.title || "SEN Support Assistant",
    color: safeColor(data.color),
    lang: data.lang || "en",
    privacyUrl: safeUrl(data.privacyUrl || "")
  };
  if (config.lang.toLowerCase().split("-")[0] !== "en") {
    // The assistant only speaks English for now: say so to screen readers by marking it English.
    console.warn("SEN widget: only English is available; the widget's text is marked lang=en.");
    config.lang = "en";
  }

  var storeKey = "sen-widget:" + config.server;
  var state = {
    token: load("token"),
    socket: null,
    confirmed: false,
    outbox: [],
    seen: {},
    lines: [],
    queue: "none",
    queueTimer: null
  };

  // --- small helpers -----------------------------------------------------------------------
  function load(key) {
    try {
      return window.sessionStorage.getItem(storeKey + ":" + key);
    } catch (e) {
      return null;
    }
  }

  function save(key, value) {
    try {
      if (value === null) window.sessionStorage.removeItem(storeKey + ":" + key);
      else window.sessionStorage.setItem(storeKey + ":" + key, value);
    } catch (e) {
      /* storage off: the conversation just won't survive a reload */
    }
  }

  function luminance(hex) {
    var rgb = [1, 3, 5].map(function (i) {
      var c = parseInt(hex.substr(i, 2), 16) / 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2];
  }

  function safeColor(value) {
    if (!value) return DEFAULT_COLOR;
    if (!/^#[0-9a-fA-F]{6}$/.test(value) || 1.05 / (luminance(value) + 0.05) < 4.5) {
      console.warn("SEN widget: data-color must be #rrggbb with 4.5:1 contrast against white.");
      return DEFAULT_COLOR;
    }
    return value;
  }

  function safeUrl(value) {
    try {
      var url = new URL(value, window.location.href);
      return SAFE_PROTOCOLS.indexOf(url.protocol) >= 0 ? url.href : "";
    } catch (e) {
      return "";
    }
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) return;
      if (name === "text") node.textContent = value;
      else if (name === "onclick") node.addEventListener("click", value);
      else node.setAttribute(name, value === true ? "" : value);
    });
    (children || []).forEach(function (child) {
      if (child) node.appendChild(child);
    });
    return node;
  }

  function newId() {
    var bytes = new Uint8Array(12);
    window.crypto.getRandomValues(bytes);
    return "c" + Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  // Text with safe links: never innerHTML.
  var LINK = /\b(?:https?:\/\/[^\s<>"']+|mailto:[^\s<>"']+|tel:\+?[0-9][0-9 ()-]{2,}[0-9])/gi;

  function appendLine(parent, line) {
    var last = 0;
    line.replace(LINK, function (match, offset) {
      var trimmed = match.replace(/[.,;:!?)\]]+$/, "");
      parent.appendChild(document.createTextNode(line.slice(last, offset)));
      var href = safeUrl(/^tel:/i.test(trimmed) ? trimmed.replace(/[\s()-]/g, "") : trimmed);
      if (href) {
        parent.appendChild(el("a", { href: href, target: "_blank", rel: "noopener noreferrer nofollow", text: trimmed }));
      } else {
        parent.appendChild(document.createTextNode(trimmed));
      }
      last = offset + trimmed.length;
      return match;
    });
    parent.appendChild(document.createTextNode(line.slice(last)));
  }

  function renderText(container, text) {
    String(text).split(/\n{2,}/).forEach(function (para) {
      var p = el("p", { class: /^Source: /.test(para) ? "senw-source" : null });
      para.split("\n").forEach(function (line, i) {
        if (i > 0) p.appendChild(el("br"));
        appendLine(p, line);
      });
      container.appendChild(p);
    });
  }

  // --- the DOM ------------------------------------------------------------------------------
  var ids = { panel: "senw-panel", title: "senw-title", input: "senw-input", privacy: "senw-privacy" };
  var root = el("div", { class: "senw", lang: config.lang });
  root.style.setProperty("--senw-primary", config.color);

  var launcher = el("button", {
    type: "button",
    class: "senw-launcher",
    "aria-expanded": "false",
    "aria-controls": ids.panel,
    text: config.title
  });

  var queueBanner = el("p", { class: "senw-queue", role: "status", hidden: true });
  var privacy = el("p", { class: "senw-privacy", id: ids.privacy }, [
    document.createTextNode(
      "Privacy: this chat is automated. Please don't type names, addresses or other details " +
        "that identify you or your child. Messages are kept so advisers can help you and to " +
        "improve the service."
    )
  ]);
  if (config.privacyUrl) {
    privacy.appendChild(document.createTextNode(" "));
    privacy.appendChild(el("a", { href: config.privacyUrl, target: "_blank", rel: "noopener", text: "Read the privacy notice" }));
  }
  var log = el("div", {
    class: "senw-log",
    role: "log",
    "aria-live": "polite",
    "aria-relevant": "additions",
    "aria-label": "Conversation",
    tabindex: "0"
  });
  var status = el("p", { class: "senw-status", role: "status", "aria-live": "polite" });
  var typingDots = el("span", { class: "senw-dots", "aria-hidden": "true" }, [el("span"), el("span"), el("span")]);
  var input = el("textarea", {
    id: ids.input,
    class: "senw-input",
    rows: "2",
    maxlength: String(MAX_CHARS),
    autocomplete: "off",
    "aria-describedby": ids.privacy
  });
  var sendButton = el("button", { type: "submit", class: "senw-send", text: "Send" });
  var form = el("form", { class: "senw-form" }, [
    el("label", { for: ids.input, class: "senw-label", text: "Type your question" }),
    el("div", { class: "senw-row" }, [input, sendButton])
  ]);
  var adviserButton = el("button", { type: "button", class: "senw-adviser", text: "Talk to an adviser" });
  var downloadButton = el("button", { type: "button", class: "senw-tool", text: "Download" });
  downloadButton.setAttribute("aria-label", "Download this conversation as text");
  var clearButton = el("button", { type: "button", class: "senw-tool", text: "Clear" });
  clearButton.setAttribute("aria-label", "Clear this conversation");
  var closeButton = el("button", { type: "button", class: "senw-tool senw-close", "aria-label": "Close the chat", text: "Close" });

  var panel = el("section", {
    id: ids.panel,
    class: "senw-panel",
    role: "dialog",
    "aria-modal": "false",
    "aria-labelledby": ids.title,
    hidden: true
  }, [
    el("header", { class: "senw-header" }, [
      el("div", { class: "senw-heading" }, [
        el("h2", { id: ids.title, class: "senw-title", text: config.title }),
        el("p", { class: "senw-subtitle", text: "Automated assistant, not a person. General information, not legal advice." })
      ]),
      el("div", { class: "senw-tools" }, [downloadButton, clearButton, closeButton])
    ]),
    queueBanner,
    log,
    el("div", { class: "senw-statusbar" }, [typingDots, status]),
    form,
    el("div", { class: "senw-footer" }, [adviserButton])
  ]);
  log.appendChild(privacy);
  root.appendChild(panel);
  root.appendChild(launcher);

  // --- messages -----------------------------------------------------------------------------
  function who(message) {
    if (message.from === "parent") return "You";
    if (message.from === "adviser") return (message.name || "An adviser") + " (adviser, a person)";
    return "Assistant (automated)";
  }

  function scrollDown() {
    log.scrollTop = log.scrollHeight;
  }

  function setStatus(text) {
    if (status.textContent !== text) status.textContent = text;
  }

  function flash(text) {
    setStatus(text);
    window.setTimeout(function () {
      if (status.textContent === text) setStatus("");
    }, 4000);
  }

  function feedbackGroup(message) {
    // Feedback is taken once per answer (the server keeps the first choice): after it, both
    // buttons show the choice and do nothing more.
    var labelId = "senw-fb-" + message.id;
    var yes = el("button", { type: "button", class: "senw-chip", "aria-pressed": "false", text: "Yes" });
    var no = el("button", { type: "button", class: "senw-chip", "aria-pressed": "false", text: "No" });
    var given = false;
    function show(helpful) {
      given = true;
      yes.setAttribute("aria-pressed", helpful === true ? "true" : "false");
      no.setAttribute("aria-pressed", helpful === false ? "true" : "false");
      yes.setAttribute("aria-disabled", "true");
      no.setAttribute("aria-disabled", "true");
    }
    function give(helpful) {
      if (given) return;
      withSession(function () {
        state.socket.emit(
          "feedback",
          { token: state.token, message_id: message.id, article: message.article, helpful: helpful },
          function (ack) {
            if (ack && ack.ok) {
              show(helpful);
              flash("Thank you for your feedback.");
            } else if (ack && ack.error === "already_given") {
              if (typeof ack.helpful === "boolean") show(ack.helpful);
              flash("Your feedback on this answer was already saved.");
            } else {
              flash("Sorry, your feedback couldn't be saved. Please try again.");
            }
          }
        );
      });
    }
    yes.addEventListener("click", function () { give(true); });
    no.addEventListener("click", function () { give(false); });
    if (typeof message.helpful === "boolean") show(message.helpful);
    return el("div", { class: "senw-feedback", role: "group", "aria-labelledby": labelId }, [
      el("span", { id: labelId, text: "Was this helpful?" }),
      yes,
      no
    ]);
  }

  function addMessage(message) {
    if (!message || typeof message.text !== "string") return null;
    if (message.id && state.seen[message.id]) {
      var known = state.seen[message.id];
      if (message.from === "parent") markSent(known);
      return known;
    }
    var kind = ["parent", "adviser"].indexOf(message.from) >= 0 ? message.from : "bot";
    var body = el("div", { class: "senw-text" });
    renderText(body, message.text);
    var node = el("div", { class: "senw-msg senw-msg--" + kind, "data-id": message.id || null }, [
      el("p", { class: "senw-who", text: who(message) }),
      body
    ]);
    if (Array.isArray(message.buttons) && message.buttons.length) {
      var group = el("div", { class: "senw-replies", role: "group", "aria-label": "Suggested replies" });
      message.buttons.forEach(function (button) {
        if (!button || !button.title || !button.payload) return;
        group.appendChild(el("button", {
          type: "button",
          class: "senw-chip",
          text: String(button.title),
          onclick: function () { send(String(button.payload), String(button.title)); }
        }));
      });
      node.appendChild(group);
    }
    if (kind === "bot" && message.article && message.id) node.appendChild(feedbackGroup(message));
    if (message.pending) {
      node.classList.add("senw-pending");
      node.appendChild(el("p", { class: "senw-note", text: "Sending…" }));
    }
    log.appendChild(node);
    if (message.id) state.seen[message.id] = node;
    state.lines.push({ who: who(message), text: message.text, time: message.timestamp || Date.now() / 1000 });
    scrollDown();
    return node;
  }

  function markSent(node) {
    if (!node || !node.classList.contains("senw-pending")) return;
    node.classList.remove("senw-pending", "senw-failed");
    var note = node.querySelector(".senw-note");
    if (note) note.remove();
  }

  function markFailed(node, text) {
    if (!node) return;
    node.classList.add("senw-failed");
    var note = node.querySelector(".senw-note");
    if (note) note.textContent = text;
  }

  // --- the connection -----------------------------------------------------------------------
  function loadClient(callback) {
    if (window.io) return callback();
    var tag = el("script", { src: base + "socket.io.min.js" });
    tag.addEventListener("load", callback);
    tag.addEventListener("error", function () {
      setStatus("The chat could not load. Please try again later, or contact the service by phone or email.");
    });
    document.head.appendChild(tag);
  }

  // The server refuses a new conversation when too many were started from here (its ack).
  function sessionRefused(ack) {
    if (ack && ack.ok === false) flash(ack.message || RATE_LIMITED_TEXT);
  }

  function connect() {
    if (state.socket) return;
    state.socket = "loading";
    loadClient(function () {
      var socket = window.io(config.server, { path: "/socket.io", reconnectionDelayMax: 5000 });
      state.socket = socket;
      socket.on("connect", function () {
        state.confirmed = false;
        socket.emit("session_request", { token: state.token }, sessionRefused);
      });
      socket.on("disconnect", function (reason) {
        state.confirmed = false;
        if (reason !== "io client disconnect") setStatus("Connection lost. Reconnecting…");
      });
      socket.on("connect_error", function () {
        setStatus("Can't reach the assistant at the moment. Trying again…");
      });
      socket.on("session_confirm", function (session) {
        var reconnecting = /Reconnecting|Trying again/.test(status.textContent);
        state.token = session.token;
        state.confirmed = true;
        save("token", session.token);
        if (reconnecting) flash("Connected again.");
        var waiting = state.outbox;
        state.outbox = [];
        waiting.forEach(function (job) { job(); });
        checkQueue();
      });
      socket.on("history", function (payload) {
        log.setAttribute("aria-busy", "true");
        (payload && payload.messages || []).forEach(addMessage);
        log.removeAttribute("aria-busy");
      });
      socket.on("bot_uttered", function (message) {
        typing(false);
        addMessage(message);
        checkQueue();
      });
      socket.on("typing", function (payload) { typing(!!(payload && payload.on)); });
    });
  }

  function withSession(job) {
    connect();
    if (state.confirmed && state.socket && state.socket.connected) job();
    else state.outbox.push(job);
  }

  function typing(on) {
    if (on) {
      // Not while an adviser has the chat: the bot is silent then. (The dots show only if the
      // reply takes a moment: see .senw-typing in the CSS.)
      if (state.queue === "waiting" || state.queue === "live") return;
      root.classList.add("senw-typing");
      setStatus("The assistant is typing…");
    } else {
      root.classList.remove("senw-typing");
      if (status.textContent === "The assistant is typing…") setStatus("");
    }
  }

  function send(text, display) {
    text = String(text || "").trim();
    if (!text) {
      flash("Please type a question first.");
      input.focus();
      return false;
    }
    if (text.length > MAX_CHARS) {
      flash("That message is too long. Please keep it under " + MAX_CHARS + " characters.");
      return false;
    }
    var clientId = newId();
    var node = addMessage({ id: clientId, from: "parent", text: display || text, pending: true });
    withSession(function emit() {
      state.socket.emit(
        "user_uttered",
        { token: state.token, message: text, display: display || null, client_id: clientId },
        function (ack) {
          if (ack && ack.ok) return markSent(node);
          if (ack && ack.error === "session") {
            state.confirmed = false;
            state.outbox.push(emit);
            state.socket.emit("session_request", { token: null }, sessionRefused);
            return;
          }
          if (ack && ack.error === "rate_limited") {
            markFailed(node, RATE_LIMITED_TEXT);
            flash(RATE_LIMITED_TEXT);
            return;
          }
          markFailed(node, "Not sent: please try again.");
        }
      );
    });
    return true;
  }

  // --- the adviser queue ----------------------------------------------------------------------
  function checkQueue() {
    window.clearTimeout(state.queueTimer);
    if (!state.socket || !state.socket.connected || !state.token) return;
    state.socket.emit("queue_status", { token: state.token }, function (info) {
      info = info || { status: "none" };
      state.queue = info.status;
      var text = "";
      if (info.status === "waiting") {
        text = info.position === 1
          ? "You're next in the queue for an adviser."
          : "You're number " + info.position + " in the queue for an adviser.";
        text += " Reference " + info.reference + ".";
      } else if (info.status === "live") {
        text = "You're talking to " + info.adviser + ", an adviser (a person).";
      } else if (info.status === "callback_requested") {
        text = "An adviser will contact you. Reference " + info.reference + ".";
      }
      if (queueBanner.textContent !== text) queueBanner.textContent = text;
      queueBanner.hidden = !text;
      if (info.status === "waiting" || info.status === "live") {
        state.queueTimer = window.setTimeout(checkQueue, QUEUE_POLL_MS);
      }
    });
  }

  // --- download and clear -----------------------------------------------------------------------
  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function stamp(seconds) {
    var d = new Date(seconds * 1000);
    return pad(d.getDate()) + "/" + pad(d.getMonth() + 1) + "/" + d.getFullYear() + " " + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }

  function transcriptText() {
    var out = [
      config.title + ": conversation downloaded " + stamp(Date.now() / 1000),
      "An automated assistant giving general information from the SEN Support guidance, not legal advice.",
      ""
    ];
    state.lines.forEach(function (line) {
      out.push("[" + stamp(line.time) + "] " + line.who + ":");
      out.push(line.text);
      out.push("");
    });
    return out.join("\n");
  }

  function download() {
    var blob = new Blob([transcriptText()], { type: "text/plain;charset=utf-8" });
    var link = el("a", { href: URL.createObjectURL(blob), download: "sen-support-conversation.txt" });
    document.body.appendChild(link);
    link.click();
    link.remove();
    window.setTimeout(function () { URL.revokeObjectURL(link.href); }, 1000);
  }

  function clearConversation() {
    if (!window.confirm("Clear this conversation from this window and start a new one?")) return;
    state.token = null;
    save("token", null);
    state.seen = {};
    state.lines = [];
    state.outbox = [];
    log.textContent = "";
    log.appendChild(privacy);
    queueBanner.hidden = true;
    queueBanner.textContent = "";
    state.queue = "none";
    if (state.socket && state.socket.connected) {
      state.confirmed = false;
      state.socket.emit("session_request", { token: null }, sessionRefused);
    }
    flash("The conversation was cleared.");
    input.focus();
  }

  // --- opening and closing --------------------------------------------------------------------
  function open() {
    panel.hidden = false;
    launcher.hidden = true;
    launcher.setAttribute("aria-expanded", "true");
    save("open", "1");
    connect();
    input.focus();
    scrollDown();
  }

  function close() {
    panel.hidden = true;
    launcher.hidden = false;
    launcher.setAttribute("aria-expanded", "false");
    save("open", null);
    launcher.focus();
  }

  // WCAG 2.4.11 (focus not obscured): when keyboard focus moves to something of the page that the
  // panel covers (on a phone it covers everything), the panel steps aside; the conversation stays
  // and the launcher brings it back.
  document.addEventListener("focusin", function (event) {
    if (panel.hidden || root.contains(event.target)) return;
    var box = event.target.getBoundingClientRect();
    var hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
    if (hit && panel.contains(hit)) {
      panel.hidden = true;
      launcher.hidden = false;
      launcher.setAttribute("aria-expanded", "false");
      save("open", null);
    }
  });

  launcher.addEventListener("click", open);
  closeButton.addEventListener("click", close);
  downloadButton.addEventListener("click", download);
  clearButton.addEventListener("click", clearConversation);
  adviserButton.addEventListener("click", function () {
    send("/request_human", "Talk to an adviser");
  });
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      event.preventDefault();
      close();
    }
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (send(input.value)) input.value = "";
    input.focus();
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event("submit", { cancelable: true }));
    }
  });

  function start() {
    var css = el("link", { rel: "stylesheet", href: base + "sen-widget.css" });
    document.head.appendChild(css);
    document.body.appendChild(root);
    // After a reload in the same tab: reconnect to the same conversation, as it was left.
    if (state.token) connect();
    if (load("open")) {
      panel.hidden = false;
      launcher.hidden = true;
      launcher.setAttribute("aria-expanded", "true");
    }
  }

  window.SENWidget = { open: open, close: close };
  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();

/*
 * Switchboard web chat widget — plain JavaScript, no build step, no dependencies.
 *
 * Embed it on any page:
 *
 *   <script src="https://chat.example.com/webchat/widget.js" data-account="acme-web" defer></script>
 *
 * or mount it yourself: SwitchboardChat.mount({account: "acme-web", container: element}).
 * Options / data-* attributes: account (required), server (default: where this script
 * came from), container (a CSS selector or an element: shown inline instead of behind a
 * launcher button), name, email, phone, identity-hash (see docs/channels/webchat.md),
 * title.
 *
 * How it works: it opens /ws/webchat/{account} and says hello with the resume token it
 * keeps in localStorage, so a reload (or a second tab) continues the same conversation.
 * Every message gets a client_id before it is sent and stays in a pending list (also in
 * localStorage) until the server acknowledges it; after a reconnect the pending ones are
 * sent again with the same client_id, and the server drops repeats.  Everything a
 * customer or agent wrote is put on the page as text (textContent), never as HTML.
 */
(function () {
  "use strict";

  var STYLE_ID = "sb-webchat-style";
  var CSS = [
    ".sb-chat{font:14px/1.4 system-ui,sans-serif;color:#1d2330;display:flex;flex-direction:column;",
    "background:#fff;border:1px solid #d5d9e2;border-radius:12px;overflow:hidden;height:100%;min-height:360px}",
    ".sb-chat[hidden]{display:none}",
    ".sb-floating{position:fixed;right:20px;bottom:84px;width:340px;height:480px;z-index:2147483000;",
    "box-shadow:0 8px 30px rgba(0,0,0,.18)}",
    ".sb-launcher{position:fixed;right:20px;bottom:20px;width:52px;height:52px;border-radius:50%;border:0;",
    "background:#2456d6;color:#fff;font:600 13px system-ui,sans-serif;cursor:pointer;z-index:2147483000}",
    ".sb-header{background:#2456d6;color:#fff;padding:10px 14px;display:flex;justify-content:space-between}",
    ".sb-status{font-size:12px;opacity:.85}",
    ".sb-messages{flex:1;overflow-y:auto;padding:10px;display:flex;flex-direction:column;gap:6px;background:#f5f7fb}",
    ".sb-message{max-width:80%;padding:7px 10px;border-radius:10px;white-space:pre-wrap;word-wrap:break-word}",
    ".sb-message[data-direction=in]{align-self:flex-end;background:#2456d6;color:#fff}",
    ".sb-message[data-direction=out]{align-self:flex-start;background:#fff;border:1px solid #e1e4ea}",
    ".sb-message[data-state=pending]{opacity:.6}",
    ".sb-message[data-state=failed]{background:#c62828}",
    ".sb-agent{display:block;font-size:11px;color:#5b6475;margin-bottom:2px}",
    ".sb-message img,.sb-message video{max-width:100%;border-radius:6px;display:block}",
    ".sb-message a{color:inherit}",
    ".sb-choices{display:flex;flex-wrap:wrap;gap:4px;margin-top:6px}",
    ".sb-choices button{border:1px solid #2456d6;background:#fff;color:#2456d6;border-radius:14px;",
    "padding:3px 10px;cursor:pointer}",
    ".sb-typing{font-size:12px;color:#5b6475;padding:0 12px;min-height:18px}",
    ".sb-error{font-size:12px;color:#c62828;padding:0 12px}",
    ".sb-compose{display:flex;gap:6px;padding:8px;border-top:1px solid #e1e4ea;align-items:flex-end}",
    ".sb-input{flex:1;resize:none;border:1px solid #d5d9e2;border-radius:8px;padding:7px;font:inherit;max-height:120px}",
    ".sb-send,.sb-attach{border:0;border-radius:8px;padding:8px 12px;cursor:pointer;background:#2456d6;color:#fff}",
    ".sb-attach{background:#e8ecf5;color:#1d2330}",
    ".sb-file{display:none}"
  ].join("");

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function safeUrl(value) {
    try {
      var url = new URL(String(value), window.location.href);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  function randomId() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function load(key, fallback) {
    try {
      var raw = window.localStorage.getItem(key);
      return raw === null ? fallback : JSON.parse(raw);
    } catch (e) {
      return fallback; // storage disabled (private mode): the chat still works, without resume
    }
  }

  function save(key, value) {
    try {
      if (value === null) window.localStorage.removeItem(key);
      else window.localStorage.setItem(key, JSON.stringify(value));
    } catch (e) { /* see load() */ }
  }

  function mount(options) {
    if (!options || !options.account) throw new Error("SwitchboardChat.mount: account is required");
    var server = (options.server || window.location.origin).replace(/\/+$/, "");
    var account = String(options.account);
    var socketUrl = server.replace(/^http/, "ws") + "/ws/webchat/" + encodeURIComponent(account);
    var keys = {token: "switchboard.webchat." + account + ".token",
                pending: "switchboard.webchat." + account + ".pending"};

    var state = {
      socket: null, greeted: false, ref: 0, backoff: 500, token: load(keys.token, null),
      pending: load(keys.pending, []),          // [{client_id, content, at}] not yet acknowledged
      refs: {},                                  // ref -> client_id of a message.send
      shown: {},                                 // message_id / client_id -> element
      typingOn: false, typingSentAt: 0, typingTimer: null, agentTypingTimer: null
    };

    if (!document.getElementById(STYLE_ID)) {
      var style = el("style");
      style.id = STYLE_ID;
      style.textContent = CSS;
      document.head.appendChild(style);
    }

    // -- the panel ------------------------------------------------------------------
    var root = el("div", "sb-chat");
    var header = el("div", "sb-header");
    header.appendChild(el("strong", "", options.title || "Chat with us"));
    var status = el("span", "sb-status", "connecting…");
    header.appendChild(status);
    var list = el("div", "sb-messages");
    list.setAttribute("aria-live", "polite");
    var typing = el("div", "sb-typing");
    var errorLine = el("div", "sb-error");
    var compose = el("div", "sb-compose");
    var input = el("textarea", "sb-input");
    input.rows = 1;
    input.placeholder = "Write a message…";
    input.setAttribute("aria-label", "Message");
    var file = el("input", "sb-file");
    file.type = "file";
    var attach = el("button", "sb-attach", "+");
    attach.type = "button";
    attach.title = "Attach a file";
    var send = el("button", "sb-send", "Send");
    send.type = "button";
    compose.appendChild(attach);
    compose.appendChild(file);
    compose.appendChild(input);
    compose.appendChild(send);
    [header, list, typing, errorLine, compose].forEach(function (n) { root.appendChild(n); });

    var container = typeof options.container === "string"
      ? document.querySelector(options.container) : options.container;
    if (container) {
      container.appendChild(root);
    } else {
      root.classList.add("sb-floating");
      root.hidden = true;
      var launcher = el("button", "sb-launcher", "Chat");
      launcher.type = "button";
      launcher.setAttribute("aria-label", "Open chat");
      launcher.addEventListener("click", function () {
        root.hidden = !root.hidden;
        if (!root.hidden) input.focus();
      });
      document.body.appendChild(launcher);
      document.body.appendChild(root);
    }

    // -- rendering ------------------------------------------------------------------
    function renderContent(box, content) {
      var kind = content && content.kind;
      var media = kind === "image" || kind === "video" || kind === "audio" || kind === "document" ||
                  kind === "sticker";
      if (kind === "text") {
        box.appendChild(document.createTextNode(content.body));
      } else if (media) {
        var url = content.url ? safeUrl(content.url) : null;
        if (url && (kind === "image" || kind === "sticker")) {
          var img = el("img");
          img.src = url;
          img.alt = content.caption || kind;
          box.appendChild(img);
        } else if (url && (kind === "video" || kind === "audio")) {
          var player = el(kind);
          player.controls = true;
          player.src = url;
          box.appendChild(player);
        } else if (url) {
          var link = el("a", "", content.filename || kind);
          link.href = url;
          link.target = "_blank";
          link.rel = "noopener noreferrer";
          box.appendChild(link);
        } else if (content.media_id && /^wcu_/.test(content.media_id)) {
          var own = el("a", "", "Attachment: " + (content.filename || kind));
          own.href = "#";
          own.addEventListener("click", function (event) {
            event.preventDefault();
            openUpload(content.media_id);
          });
          box.appendChild(own);
        } else {
          box.appendChild(document.createTextNode("[" + kind + "]"));
        }
        if (content.caption) box.appendChild(el("div", "", content.caption));
      } else if (kind === "location") {
        var map = el("a", "", "Location: " + (content.name || content.address ||
                      content.latitude + ", " + content.longitude));
        map.href = "https://www.openstreetmap.org/?mlat=" + encodeURIComponent(content.latitude) +
                   "&mlon=" + encodeURIComponent(content.longitude);
        map.target = "_blank";
        map.rel = "noopener noreferrer";
        box.appendChild(map);
      } else if (kind === "contacts") {
        (content.contacts || []).forEach(function (card) {
          var name = card.name && (card.name.formatted_name || card.name.first_name) || "contact";
          var phones = (card.phones || []).map(function (p) { return p.phone; }).join(", ");
          box.appendChild(el("div", "", "Contact: " + name + (phones ? " — " + phones : "")));
        });
      } else if (kind === "interactive" && (content.type === "buttons" || content.type === "list")) {
        box.appendChild(document.createTextNode(content.body || ""));
        var choices = el("div", "sb-choices");
        var offered = content.type === "buttons" ? (content.buttons || []) :
          [].concat.apply([], (content.sections || []).map(function (s) { return s.rows || []; }));
        offered.forEach(function (choice) {
          var button = el("button", "", choice.title);
          button.type = "button";
          button.addEventListener("click", function () {
            var type = content.type === "buttons" ? "button_reply" : "list_reply";
            sendContent({kind: "interactive", type: type, id: choice.id, title: choice.title});
          });
          choices.appendChild(button);
        });
        box.appendChild(choices);
      } else if (kind === "interactive") {
        box.appendChild(document.createTextNode(content.title || ""));
      } else {
        box.appendChild(document.createTextNode("[" + (kind || "message") + "]"));
      }
    }

    function show(message, stateName) {
      var known = state.shown[message.message_id] || (message.client_id && state.shown[message.client_id]);
      if (known) {
        known.setAttribute("data-state", stateName);
        if (message.message_id) {
          known.setAttribute("data-message-id", message.message_id);
          state.shown[message.message_id] = known;
        }
        return known;
      }
      var box = el("div", "sb-message");
      box.setAttribute("data-direction", message.direction);
      box.setAttribute("data-state", stateName);
      if (message.message_id) box.setAttribute("data-message-id", message.message_id);
      if (message.client_id) box.setAttribute("data-client-id", message.client_id);
      if (message.direction === "out" && message.agent) box.appendChild(el("span", "sb-agent", message.agent));
      renderContent(box, message.content);
      list.appendChild(box);
      list.scrollTop = list.scrollHeight;
      if (message.message_id) state.shown[message.message_id] = box;
      if (message.client_id) state.shown[message.client_id] = box;
      return box;
    }

    function setStatus(text) { status.textContent = text; }
    function setError(text) { errorLine.textContent = text || ""; }

    // -- the socket -----------------------------------------------------------------
    function frame(value) {
      if (!state.socket || state.socket.readyState !== WebSocket.OPEN) return false;
      state.socket.send(JSON.stringify(value));
      return true;
    }

    function connect() {
      setStatus("connecting…");
      var socket = new WebSocket(socketUrl);
      state.socket = socket;
      state.greeted = false;
      socket.onopen = function () {
        var hello = {type: "hello", resume: state.token || undefined};
        ["name", "email", "phone"].forEach(function (k) { if (options[k]) hello[k] = options[k]; });
        var signed = options.identityHash || options["identity-hash"];
        if (signed) hello.identity_hash = signed;
        frame(hello);
      };
      socket.onmessage = function (event) {
        var data;
        try { data = JSON.parse(event.data); } catch (e) { return; }
        receive(data);
      };
      socket.onclose = function () {
        if (state.socket !== socket) return;
        state.greeted = false;
        setStatus("offline — reconnecting…");
        var wait = state.backoff;
        state.backoff = Math.min(state.backoff * 2, 30000);
        window.setTimeout(connect, wait + Math.random() * 250);
      };
    }

    function receive(data) {
      if (data.type === "welcome") {
        state.greeted = true;
        state.backoff = 500;
        state.token = data.session.token;
        save(keys.token, state.token);
        setStatus("online");
        setError("");
        (data.messages || []).forEach(function (m) { show(m, "sent"); });
        var stored = {};
        (data.messages || []).forEach(function (m) { if (m.client_id) stored[m.client_id] = true; });
        state.pending = state.pending.filter(function (p) { return !stored[p.client_id]; });
        save(keys.pending, state.pending);
        state.pending.forEach(function (p) { // what the last connection did not confirm, again
          show({client_id: p.client_id, direction: "in", content: p.content}, "pending");
          transmit(p);
        });
      } else if (data.type === "message") {
        show(data, "sent");
        if (data.direction === "out") showAgentTyping(false);
      } else if (data.type === "ack") {
        var clientId = state.refs[data.ref];
        if (clientId) {
          delete state.refs[data.ref];
          confirm(clientId, data.result && data.result.message_id);
        }
      } else if (data.type === "error") {
        var failed = state.refs[data.ref];
        delete state.refs[data.ref];
        setError(data.message || data.code);
        if (failed && data.code !== "timeout" && data.code !== "storage_unavailable") {
          state.pending = state.pending.filter(function (p) { return p.client_id !== failed; });
          save(keys.pending, state.pending);
          if (state.shown[failed]) state.shown[failed].setAttribute("data-state", "failed");
        }
      } else if (data.type === "typing") {
        showAgentTyping(Boolean(data.on));
      }
    }

    function confirm(clientId, messageId) {
      state.pending = state.pending.filter(function (p) { return p.client_id !== clientId; });
      save(keys.pending, state.pending);
      if (state.shown[clientId]) show({client_id: clientId, message_id: messageId, direction: "in"}, "sent");
    }

    function showAgentTyping(on) {
      window.clearTimeout(state.agentTypingTimer);
      typing.textContent = on ? "typing…" : "";
      if (on) state.agentTypingTimer = window.setTimeout(function () { typing.textContent = ""; }, 10000);
    }

    // -- sending --------------------------------------------------------------------
    function transmit(item) {
      if (!state.greeted) return;
      state.ref += 1;
      state.refs[state.ref] = item.client_id;
      frame({type: "message.send", ref: state.ref, client_id: item.client_id, content: item.content});
    }

    function sendContent(content) {
      var item = {client_id: randomId(), content: content, at: Date.now()};
      state.pending.push(item);
      save(keys.pending, state.pending);
      show({client_id: item.client_id, direction: "in", content: content}, "pending");
      transmit(item);
      setTyping(false);
    }

    function submit() {
      var text = input.value.trim();
      if (!text) return;
      input.value = "";
      sendContent({kind: "text", body: text});
      input.focus();
    }

    function setTyping(on) {
      window.clearTimeout(state.typingTimer);
      var now = Date.now();
      if (on) state.typingTimer = window.setTimeout(function () { setTyping(false); }, 3000);
      if (on === state.typingOn && (!on || now - state.typingSentAt < 2000)) return;
      state.typingOn = on;
      state.typingSentAt = now;
      if (state.greeted) frame({type: "typing", on: on});
    }

    function upload(chosen) {
      if (!state.token) { setError("not connected yet"); return; }
      var body = new FormData();
      body.append("file", chosen, chosen.name);
      setError("uploading " + chosen.name + "…");
      fetch(server + "/webchat/" + encodeURIComponent(account) + "/uploads", {
        method: "POST", body: body, headers: {"X-Webchat-Session": state.token}
      }).then(function (answer) {
        return answer.json().then(function (json) { return {ok: answer.ok, json: json}; });
      }).then(function (result) {
        if (!result.ok) throw new Error(result.json.error ? result.json.error.message : "upload failed");
        setError("");
        sendContent(result.json.content);
      }).catch(function (error) { setError(error.message); });
    }

    function openUpload(mediaId) {
      fetch(server + "/webchat/" + encodeURIComponent(account) + "/uploads/" + encodeURIComponent(mediaId),
            {headers: {"X-Webchat-Session": state.token || ""}})
        .then(function (answer) {
          if (!answer.ok) throw new Error("file not available");
          return answer.blob();
        })
        .then(function (blob) { window.open(URL.createObjectURL(blob), "_blank", "noopener"); })
        .catch(function (error) { setError(error.message); });
    }

    send.addEventListener("click", submit);
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        submit();
      }
    });
    input.addEventListener("input", function () { setTyping(input.value.length > 0); });
    attach.addEventListener("click", function () { file.click(); });
    file.addEventListener("change", function () {
      if (file.files && file.files[0]) upload(file.files[0]);
      file.value = "";
    });

    connect();
    return {
      send: function (text) { sendContent({kind: "text", body: String(text)}); },
      element: root
    };
  }

  window.SwitchboardChat = {mount: mount};

  // -- automatic mount from the script tag's data-* attributes ----------------------------
  var script = document.currentScript;
  if (script && (script.dataset.account || script.hasAttribute("data-account-from-path"))) {
    var data = script.dataset;
    var path = window.location.pathname.split("/").filter(Boolean);
    var options = {
      account: data.account || decodeURIComponent(path[path.length - 1] || ""),
      server: data.server || new URL(script.src, window.location.href).origin,
      container: data.container, title: data.title,
      name: data.name, email: data.email, phone: data.phone, identityHash: data.identityHash
    };
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", function () { mount(options); });
    } else {
      mount(options);
    }
  }
})();

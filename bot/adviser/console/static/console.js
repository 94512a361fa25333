/* Adviser console: the live chat on a case page. New messages appear without reloading (polled
   every 2 seconds); replies are sent without reloading. Everything is written with textContent. */
(function () {
  "use strict";
  var chat = document.getElementById("chat");
  if (!chat) return;
  var status = document.getElementById("chat-status");
  var form = document.getElementById("reply");
  var names = { parent: "Parent", bot: "Assistant", adviser: "Adviser" };
  var shown = chat.children.length;

  function render(messages) {
    if (messages.length === shown) return;
    var atBottom = chat.scrollTop + chat.clientHeight >= chat.scrollHeight - 20;
    for (var i = shown; i < messages.length; i++) {
      var line = messages[i];
      var item = document.createElement("p");
      item.className = "from-" + (names[line.from] ? line.from : "bot");
      var who = document.createElement("span");
      who.className = "who";
      who.textContent = (names[line.from] || "Assistant") + ":";
      var text = document.createElement("span");
      text.className = "text";
      text.textContent = line.text;
      item.appendChild(who);
      item.appendChild(document.createTextNode(" "));
      item.appendChild(text);
      chat.appendChild(item);
    }
    shown = messages.length;
    if (atBottom) chat.scrollTop = chat.scrollHeight;
  }

  function poll() {
    fetch(chat.getAttribute("data-poll"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (reply) {
        if (reply.status === 401 || reply.redirected) throw new Error("Your session has ended: reload the page to log in.");
        return reply.json();
      })
      .then(function (data) {
        if (data.error) status.textContent = "Messages can't be fetched: " + data.error;
        else if (status.textContent.indexOf("can't") >= 0) status.textContent = "";
        render(data.messages || []);
      })
      .catch(function (problem) { status.textContent = problem.message; })
      .finally(function () { window.setTimeout(poll, 2000); });
  }
  window.setTimeout(poll, 2000);

  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var box = form.querySelector("textarea");
      var text = box.value.trim();
      if (!text) return;
      var body = new URLSearchParams();
      body.set("text", text);
      fetch(form.action, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRF-Token": form.getAttribute("data-csrf") },
        body: body
      }).then(function (reply) {
        return reply.json().then(function (data) {
          if (!reply.ok) throw new Error(data.error || "The message was not sent.");
          box.value = "";
          status.textContent = "Sent.";
        });
      }).catch(function (problem) {
        status.textContent = problem.message + " Your text is still in the box.";
      });
    });
  }
})();

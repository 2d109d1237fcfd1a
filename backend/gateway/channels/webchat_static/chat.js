// The web chat page: loads its words in the browser's language, keeps the session id in
// sessionStorage (this tab only), sends messages to the gateway and shows the bot's answers,
// and asks every few seconds for messages the assistant starts (reminders). Opened from an
// e-mail's link (/chat?link=...), it starts a new conversation bound by that link and shows the
// reminder first. Every text is put in the page with textContent, never parsed as HTML.
"use strict";

(() => {
  const API = "chat/api";
  const SESSION_KEY = "acordo.chat.session";
  const SESSION_ID = /^[A-Za-z0-9_-]{24}\.[A-Za-z0-9_-]{22}$/; // issued by the server
  const POLL_MS = 5000;

  const log = document.getElementById("log");
  const form = document.getElementById("composer");
  const input = document.getElementById("input");
  const sendButton = document.getElementById("send");
  const typing = document.getElementById("typing");
  const notice = document.getElementById("notice");

  const language = pickLanguage(navigator.languages || [navigator.language]);
  let ui = { strings: {}, max_message_chars: 2000 };
  let session = null;
  let busy = false;
  let cursor = 0; // the last message the assistant started that the page has shown
  let polling = false;

  function pickLanguage(tags) {
    for (const tag of tags) {
      const base = String(tag || "").toLowerCase().split(/[-_]/)[0];
      if (base === "pt") return "pt_BR";
      if (base === "es" || base === "it" || base === "en") return base;
    }
    return "en";
  }

  function say(key) {
    return ui.strings[key] || "";
  }

  async function loadStrings() {
    const response = await fetch(`${API}/ui-strings?language=${encodeURIComponent(language)}`);
    if (!response.ok) throw new Error(`ui-strings: ${response.status}`);
    ui = await response.json();
    document.documentElement.lang = ui.language.replace("_", "-");
    document.title = say("title");
    for (const element of document.querySelectorAll("[data-ui]")) {
      element.textContent = say(element.dataset.ui);
    }
    for (const element of document.querySelectorAll("[data-ui-placeholder]")) {
      element.placeholder = say(element.dataset.uiPlaceholder);
    }
    for (const element of document.querySelectorAll("[data-ui-label]")) {
      element.setAttribute("aria-label", say(element.dataset.uiLabel));
    }
  }

  async function postJson(path, body) {
    const response = await fetch(`${API}/${path}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const payload = await response.json().catch(() => null);
    if (!response.ok) {
      const error = new Error(`${path}: ${response.status}`);
      error.reasonCode = payload && payload.detail && payload.detail.reason_code;
      error.serverMessage = payload && payload.detail && payload.detail.message;
      throw error;
    }
    return payload;
  }

  function storedSession() {
    try {
      const stored = sessionStorage.getItem(SESSION_KEY);
      return stored && SESSION_ID.test(stored) ? stored : null;
    } catch (_) {
      return null; // storage disabled: the session lasts as long as the page
    }
  }

  function keepSession(id) {
    session = id;
    try {
      sessionStorage.setItem(SESSION_KEY, session);
    } catch (_) {
      // keep it in memory only
    }
  }

  async function sessionId() {
    session = session || storedSession();
    if (!session) keepSession((await postJson("sessions", {})).session_id);
    return session;
  }

  // Messages the assistant started since the last poll; true when any was shown.
  async function poll() {
    const current = session || storedSession();
    if (!current || polling) return false;
    polling = true;
    try {
      const response = await fetch(`${API}/messages?after=${cursor}`, {
        headers: { "X-Chat-Session": current },
      });
      if (!response.ok) return false;
      const fresh = await response.json();
      cursor = Math.max(cursor, fresh.cursor);
      if (fresh.messages.length > 0) disableChoices();
      for (const message of fresh.messages) addBotMessage(message);
      return fresh.messages.length > 0;
    } catch (error) {
      console.error(error);
      return false;
    } finally {
      polling = false;
    }
  }

  // A link from an e-mail: a new conversation bound to its debtor, the reminder shown first.
  async function openLink(token) {
    history.replaceState(null, "", location.pathname); // a reload must not reuse the link
    forgetSession();
    const opened = await postJson("sessions", { link: token, language });
    keepSession(opened.session_id);
    if (opened.notice) showNotice(opened.notice);
    return poll();
  }

  function forgetSession() {
    session = null;
    cursor = 0;
    try {
      sessionStorage.removeItem(SESSION_KEY);
    } catch (_) {
      // nothing was stored
    }
  }

  function showGreeting() {
    for (const message of ui.greeting || []) addBotMessage(message);
  }

  // "End conversation": the server forgets that this session verified, the page forgets the
  // session, and the next person on this device starts from the greeting.
  async function endConversation() {
    if (busy) return;
    const ending = session || storedSession();
    forgetSession();
    log.replaceChildren();
    showNotice("");
    if (ending) {
      try {
        await postJson("sessions/end", { session_id: ending });
      } catch (error) {
        console.error(error);
      }
    }
    showGreeting();
    addBubble("bot", say("ended"));
    input.focus();
  }

  function addBubble(who, text) {
    const item = document.createElement("li");
    item.className = `bubble bubble-${who}`;
    if (text) {
      const body = document.createElement("span");
      body.textContent = text;
      item.appendChild(body);
    }
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
    return item;
  }

  function addBotMessage(message) {
    const item = addBubble("bot", message.text);
    if (!message.buttons || message.buttons.length === 0) return;
    const choices = document.createElement("div");
    choices.className = "choices";
    for (const button of message.buttons) {
      const choice = document.createElement("button");
      choice.type = "button";
      choice.className = "choice";
      choice.textContent = button.title;
      choice.addEventListener("click", () => send(button.payload, button.title));
      choices.appendChild(choice);
    }
    item.appendChild(choices);
    log.scrollTop = log.scrollHeight;
  }

  function disableChoices() {
    // Only the buttons of the bot's last turn mean anything to the gateway.
    for (const choice of log.querySelectorAll(".choice")) choice.disabled = true;
  }

  function showNotice(text) {
    notice.textContent = text;
    notice.hidden = !text;
  }

  function setBusy(value) {
    busy = value;
    typing.hidden = !value;
    sendButton.disabled = value;
  }

  async function send(text, shownAs) {
    if (busy) return;
    if ([...text].length > ui.max_message_chars) {
      showNotice(say("too_long"));
      return;
    }
    showNotice("");
    disableChoices();
    const bubble = addBubble("user", shownAs || text);
    setBusy(true);
    try {
      let reply;
      try {
        reply = await postJson("messages", { session_id: await sessionId(), text, language });
      } catch (error) {
        if (error.reasonCode !== "session_invalid") throw error;
        forgetSession(); // not one the server issued (or from an older version): start anew
        reply = await postJson("messages", { session_id: await sessionId(), text, language });
      }
      for (const message of reply.messages) addBotMessage(message);
    } catch (error) {
      bubble.classList.add("bubble-failed");
      if (!shownAs && !input.value) input.value = text; // let the visitor send it again
      if (error.reasonCode === "message_too_long") showNotice(say("too_long"));
      // Already in the browser's language, with how long to wait.
      else if (error.reasonCode === "rate_limited" && error.serverMessage) showNotice(error.serverMessage);
      else showNotice(say("error"));
    } finally {
      setBusy(false);
      input.focus();
    }
  }

  function refuseFiles(event) {
    const transfer = event.dataTransfer || event.clipboardData;
    if (transfer && transfer.files && transfer.files.length > 0) {
      event.preventDefault();
      showNotice(say("text_only"));
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text || busy) return;
    input.value = "";
    send(text);
  });

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  document.getElementById("end").addEventListener("click", endConversation);
  input.addEventListener("paste", refuseFiles);
  document.addEventListener("dragover", (event) => event.preventDefault());
  document.addEventListener("drop", refuseFiles);

  const link = new URLSearchParams(location.search).get("link");
  loadStrings()
    .then(async () => {
      // The page opens like a conversation: the reminder of the e-mail's link, or the
      // assistant's greeting and quick replies.
      const shown = link ? await openLink(link).catch(() => false) : await poll();
      if (!shown) showGreeting();
      setInterval(() => {
        if (document.visibilityState === "visible" && !busy) poll();
      }, POLL_MS);
    })
    .catch((error) => console.error(error))
    .finally(() => {
      input.disabled = false;
      sendButton.disabled = false;
      input.focus();
    });
})();

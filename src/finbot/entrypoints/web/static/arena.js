// The arena page's toasts: the player's own solves, the facts of their plays as the watch
// sees them, and critical findings in their sandbox. Text only (textContent): payloads may
// carry an attacker's words.
(function () {
  const root = document.getElementById("arena");
  const box = document.getElementById("toasts");
  if (!root || !box) return;
  const me = root.dataset.player;
  const titles = JSON.parse(document.getElementById("arena-titles").textContent);
  const FACTS = {manipulated: "the agent was manipulated", money: "money moved"};

  function toast(text, kind) {
    const item = document.createElement("li");
    item.className = `toast toast-${kind}`;
    item.setAttribute("role", kind === "critical" ? "alert" : "status");
    item.textContent = text;
    box.appendChild(item);
    setTimeout(() => item.remove(), 15000);
  }

  document.body.addEventListener("finbot:event", (e) => {
    const event = e.detail || {};
    const p = event.payload || {};
    const title = titles[p.challenge_id] || p.challenge_id;
    if (event.type === "arena.solved" && p.player_id === me) {
      toast(`Solved: ${title} (+${p.points} points)`, "solved");
    } else if (event.type === "arena.progress") {
      toast(`${title}: ${FACTS[p.fact] || p.fact} (${p.mode} mode)`, "progress");
    } else if (event.type === "arena.finding" && p.severity === "critical") {
      toast(`Critical finding (${p.detector}): ${p.detail}`, "critical");
    }
  });

  // Tool poisoning starts from the tool's current description.
  const picker = document.getElementById("tool");
  const description = document.getElementById("tool-description");
  if (picker && description) {
    picker.addEventListener("change", () => {
      description.value = picker.selectedOptions[0].dataset.description || "";
    });
  }
})();

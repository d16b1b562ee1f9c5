// The teleconsultation room: the device check, the waiting room, and WebRTC between the participants (the
// practitioner, the patient, and a third participant when one is invited: a mesh of peer connections), signalled
// over the room's WebSocket (message types in docs/teleconsultation.md). Of two participants, the one whose
// connection id is the smaller makes the offer; the other answers. Each connection's quality figures (getStats) are
// sampled every few seconds and sent to the server; nothing of the media leaves the browsers for the server.
(function () {
  "use strict";
  var room = document.getElementById("room");
  if (!room || !window.WebSocket) { return; }
  var role = room.getAttribute("data-role");
  var status = room.getAttribute("data-status");
  var message = document.getElementById("room-message");
  var queueText = document.getElementById("room-queue");
  var noticeText = document.getElementById("room-notice");
  var localVideo = document.getElementById("local-video");
  var remotes = document.getElementById("remote-videos");
  var deviceText = document.getElementById("device-message");
  var audioOnlyBox = document.getElementById("audio-only");
  var retryButton = document.getElementById("device-retry");
  var thirdParty = document.getElementById("third-party");
  var socket = null, local = null, iceServers = [], closed = false, myId = "";
  var peers = {}; // connection id -> {pc, role, round, pending, video}
  var STATS_EVERY = 5000, QUEUE_EVERY = 30000;
  var ROLE_VIDEO = { practitioner: "Vidéo du médecin", patient: "Vidéo du patient", guest: "Vidéo de la personne invitée" };

  function say(text) { if (message) { message.textContent = text; } }
  function device(text) { if (deviceText) { deviceText.textContent = text; } }
  function audioOnly() { return !!(audioOnlyBox && audioOnlyBox.checked); }

  // --- Devices -------------------------------------------------------------------------------------------------
  // What is wrong, in plain French; audio alone is a choice (the box), not a failure.
  function deviceProblem(err, wanted) {
    var name = err && err.name;
    if (name === "NotAllowedError" || name === "SecurityError") {
      return "Vous avez refusé l'accès à la caméra et au micro. Autorisez-le dans les réglages du navigateur (le cadenas ou la caméra à gauche de l'adresse), puis cliquez sur « Réessayer ».";
    }
    if (name === "NotReadableError" || name === "AbortError") {
      return "La caméra ou le micro est déjà utilisé par une autre application (visioconférence, appareil photo) : fermez-la, puis cliquez sur « Réessayer ».";
    }
    if (name === "NotFoundError" || name === "OverconstrainedError") {
      return wanted === "audio" ? "Aucun micro n'a été trouvé : branchez un micro ou un casque, puis cliquez sur « Réessayer »." :
        "Aucune caméra ni aucun micro n'a été trouvé sur cet appareil.";
    }
    return "La caméra et le micro n'ont pas pu être ouverts : cliquez sur « Réessayer ».";
  }

  function listDevices() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) { return Promise.resolve({ camera: true, microphone: true }); }
    return navigator.mediaDevices.enumerateDevices().then(function (list) {
      return { camera: list.some(function (d) { return d.kind === "videoinput"; }),
               microphone: list.some(function (d) { return d.kind === "audioinput"; }) };
    }, function () { return { camera: true, microphone: true }; });
  }

  function showLocal(stream) {
    local = stream;
    localVideo.srcObject = stream;
    var mode = stream.getVideoTracks().length ? "video" : "audio";
    room.setAttribute("data-media", mode);
    room.setAttribute("data-devices", "ok");
  }

  // Open the camera (unless audio alone is chosen) and the microphone; say what is wrong.
  function openMedia() {
    if (local) { return Promise.resolve(local); }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      device("Ce navigateur ne permet pas la vidéo : utilisez une version récente de Firefox, Chrome, Edge ou Safari.");
      room.setAttribute("data-devices", "unsupported");
      return Promise.reject(new Error("unsupported"));
    }
    return listDevices().then(function (found) {
      if (!found.microphone) {
        room.setAttribute("data-devices", "no-microphone");
        device("Aucun micro n'a été trouvé : branchez un micro ou un casque, puis cliquez sur « Réessayer ». Sans micro, votre interlocuteur ne vous entendra pas.");
        throw new Error("no microphone");
      }
      var wantVideo = !audioOnly() && found.camera;
      return navigator.mediaDevices.getUserMedia({ video: wantVideo, audio: true }).then(function (stream) {
        showLocal(stream);
        if (audioOnly()) { device("Micro prêt. Vous avez choisi l'audio seul : votre caméra reste éteinte."); }
        else if (!found.camera) { device("Micro prêt. Aucune caméra n'a été trouvée : la consultation se fera en audio seul."); }
        else { device("Caméra et micro prêts : vous vous voyez ci-dessous."); }
        return stream;
      }, function (err) {
        if (wantVideo && (err.name === "NotReadableError" || err.name === "NotFoundError" || err.name === "OverconstrainedError")) {
          // The camera alone fails: audio alone still works.
          return navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
            showLocal(stream);
            device(err.name === "NotReadableError" ?
              "La caméra est déjà utilisée par une autre application : la consultation se fera en audio seul. Fermez cette application, puis cliquez sur « Réessayer » pour la vidéo." :
              "La caméra n'a pas pu être ouverte : la consultation se fera en audio seul.");
            return stream;
          });
        }
        throw err;
      });
    }).catch(function (err) {
      if (!room.getAttribute("data-devices") || room.getAttribute("data-devices") === "ok") {
        room.setAttribute("data-devices", "failed");
        device(deviceProblem(err, "audio"));
      }
      throw err;
    });
  }

  function reopenMedia() {
    if (local) { local.getTracks().forEach(function (t) { t.stop(); }); local = null; }
    room.removeAttribute("data-devices");
    device("Vérification de la caméra et du micro…");
    return openMedia().then(function () {
      // The connections carry the new tracks from a fresh negotiation.
      Object.keys(peers).forEach(function (id) { drop(id); send({ type: "hangup", to: id }); send({ type: "present", to: id }); });
    }).catch(function () {});
  }

  if (audioOnlyBox) {
    try { audioOnlyBox.checked = sessionStorage.getItem("maillage-audio-only") === "1"; } catch (e) { /* private mode */ }
    audioOnlyBox.addEventListener("change", function () {
      try { sessionStorage.setItem("maillage-audio-only", audioOnlyBox.checked ? "1" : "0"); } catch (e) { /* private mode */ }
      reopenMedia();
    });
  }
  if (retryButton) { retryButton.addEventListener("click", reopenMedia); }

  // --- Signalling ----------------------------------------------------------------------------------------------
  function send(msg) {
    if (socket && socket.readyState === WebSocket.OPEN) { socket.send(JSON.stringify(msg)); }
  }

  function videoFor(id, peerRole) {
    var video = document.createElement("video");
    video.autoplay = true;
    video.playsInline = true;
    video.setAttribute("data-peer", id);
    video.setAttribute("data-peer-role", peerRole || "");
    video.setAttribute("aria-label", ROLE_VIDEO[peerRole] || "Vidéo d'un participant");
    video.className = "remote-video";
    remotes.appendChild(video);
    return video;
  }

  function connectedCount() {
    return Object.keys(peers).filter(function (id) { return peers[id].pc.connectionState === "connected"; }).length;
  }

  function updateConnection() {
    var ids = Object.keys(peers);
    var connected = connectedCount();
    room.setAttribute("data-peers", String(connected));
    if (connected > 0) {
      room.setAttribute("data-connection", "connected");
      say(connected > 1 ? "Vous êtes en consultation, à " + (connected + 1) + " participants." : "Vous êtes en consultation.");
    } else if (!closed) {
      room.setAttribute("data-connection", ids.length ? "connecting" : "none");
    }
  }

  function drop(id) {
    var peer = peers[id];
    if (!peer) { return; }
    delete peers[id];
    peer.pc.close();
    if (peer.video && peer.video.parentNode) { peer.video.parentNode.removeChild(peer.video); }
    updateConnection();
  }

  function newPeer(id, peerRole) {
    var old = peers[id];
    var video = old ? old.video : videoFor(id, peerRole);
    if (old) { old.pc.close(); }
    var pc = new RTCPeerConnection({ iceServers: iceServers });
    var peer = { pc: pc, role: peerRole, round: old ? old.round : 0, pending: [], video: video };
    peers[id] = peer;
    local.getTracks().forEach(function (track) { pc.addTrack(track, local); });
    if (!local.getVideoTracks().length) { pc.addTransceiver("video", { direction: "recvonly" }); }
    pc.onicecandidate = function (e) { if (e.candidate) { send({ type: "candidate", to: id, n: peer.round, candidate: e.candidate.toJSON() }); } };
    pc.ontrack = function (e) { if (video.srcObject !== e.streams[0]) { video.srcObject = e.streams[0]; } };
    pc.onconnectionstatechange = function () {
      if (peers[id] !== peer) { return; }
      updateConnection();
      if (pc.connectionState === "failed") {
        say("La connexion a échoué : nouvel essai…");
        if (offers(id)) { offerTo(id, peerRole); } else { send({ type: "present", to: id }); }
      }
    };
    return peer;
  }

  function offers(id) { return myId < id; }

  function offerTo(id, peerRole) {
    openMedia().then(function () {
      var previous = peers[id];
      var peer = newPeer(id, peerRole || (previous && previous.role));
      peer.round += 1;
      var n = peer.round;
      return peer.pc.createOffer().then(function (o) { return peer.pc.setLocalDescription(o); })
        .then(function () { if (peer.round === n) { send({ type: "offer", to: id, n: n, sdp: peer.pc.localDescription.sdp }); } });
    }).catch(function () {});
  }

  function answerTo(id, peerRole, sdp, n) {
    openMedia().then(function () {
      var peer = newPeer(id, peerRole);
      peer.round = n;
      return peer.pc.setRemoteDescription({ type: "offer", sdp: sdp })
        .then(function () { flush(peer); return peer.pc.createAnswer(); })
        .then(function (a) { return peer.pc.setLocalDescription(a); })
        .then(function () { send({ type: "answer", to: id, n: n, sdp: peer.pc.localDescription.sdp }); });
    }).catch(function () {});
  }

  function flush(peer) {
    peer.pending.splice(0).forEach(function (c) { peer.pc.addIceCandidate(c).catch(function () {}); });
  }

  function meet(id, peerRole) {
    // Someone is present: the smaller id offers, the other asks it to.
    if (status !== "in_consultation" || closed) { return; }
    var peer = peers[id];
    if (peer && (peer.pc.connectionState === "connected" || peer.pc.connectionState === "connecting")) { return; }
    if (offers(id)) { offerTo(id, peerRole); } else { send({ type: "present", to: id }); }
  }

  function setStatus(next) {
    var before = status;
    status = next;
    room.setAttribute("data-status", next);
    if (next === "in_consultation" && before !== "in_consultation") {
      if (role === "patient") { say("Votre médecin vous fait entrer…"); }
      if (queueText) { queueText.textContent = ""; }
      send({ type: "present" });
    }
    if (next === "done" || next === "cancelled") {
      closed = true;
      Object.keys(peers).forEach(drop);
      if (local) { local.getTracks().forEach(function (t) { t.stop(); }); }
      room.setAttribute("data-connection", "closed");
      say(next === "done" ? "La consultation est terminée. Vous pouvez fermer cette page." : "Le rendez-vous a été annulé.");
    }
  }

  function onMessage(event) {
    var msg;
    try { msg = JSON.parse(event.data); } catch (e) { return; }
    var from = msg.from;
    if (msg.type === "welcome") {
      myId = msg.id;
      if (role === "guest") { guestState(msg.guest_state); }
      iceServers = msg.ice_servers || [];
      setStatus(msg.status);
      if (msg.status === "in_consultation") { send({ type: "present" }); }
    } else if (msg.type === "state") {
      setStatus(msg.status);
    } else if (msg.type === "queue") {
      if (queueText && status === "waiting") { queueText.textContent = msg.text; room.setAttribute("data-place", String(msg.place)); }
    } else if (msg.type === "notice") {
      if (noticeText && status !== "in_consultation") { noticeText.textContent = msg.text; }
    } else if (msg.type === "third-party") {
      onThirdParty(msg);
    } else if (msg.type === "present" && from) {
      meet(from, msg.role);
    } else if (msg.type === "offer" && from) {
      answerTo(from, msg.role, msg.sdp, msg.n);
    } else if (msg.type === "answer" && from && peers[from] && msg.n === peers[from].round) {
      var p = peers[from];
      p.pc.setRemoteDescription({ type: "answer", sdp: msg.sdp }).then(function () { flush(p); }).catch(function () {});
    } else if (msg.type === "candidate" && from && peers[from] && msg.n === peers[from].round) {
      var q = peers[from];
      if (q.pc.remoteDescription) { q.pc.addIceCandidate(msg.candidate).catch(function () {}); } else { q.pending.push(msg.candidate); }
    } else if ((msg.type === "peer-left" || msg.type === "hangup") && from) {
      drop(from);
      if (!closed && status === "in_consultation" && msg.type === "peer-left") {
        say(msg.role === "practitioner" ? "Votre médecin s'est déconnecté : en attente de son retour…" :
          msg.role === "patient" ? "Le patient s'est déconnecté : en attente de son retour…" : "La personne invitée a quitté la consultation.");
      }
    } else if (msg.type === "error") {
      say(msg.message);
    }
  }

  // --- The third participant --------------------------------------------------------------------------------------
  function guestState(state) {
    room.setAttribute("data-guest", state);
    if (state === "asking") { say("En attente de l'accord du patient…"); }
    if (state === "admitted") { say("Le patient a accepté votre présence : connexion…"); send({ type: "present" }); }
    if (state === "refused") { closed = true; say("Le patient n'a pas souhaité votre présence : la consultation se poursuit sans vous. Vous pouvez fermer cette page."); }
    if (state === "revoked") { closed = true; say("Votre invitation a été retirée. Vous pouvez fermer cette page."); }
  }

  function ask(msg) {
    // The patient is asked, in the room, whether the third person may join.
    thirdParty.textContent = "";
    var question = document.createElement("p");
    question.id = "third-party-question";
    question.tabIndex = -1;
    question.textContent = "Votre médecin souhaite faire participer " + msg.capacity + " à la consultation. Acceptez-vous sa présence ?";
    var row = document.createElement("div");
    row.className = "button-row";
    [["Accepter sa présence", true], ["Refuser", false]].forEach(function (choice) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = choice[0];
      if (!choice[1]) { button.className = "secondary"; }
      button.addEventListener("click", function () {
        send({ type: "third-party", guest: msg.guest, accept: choice[1] });
        row.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
      });
      row.appendChild(button);
    });
    thirdParty.appendChild(question);
    thirdParty.appendChild(row);
    question.focus();
  }

  function onThirdParty(msg) {
    if (role === "guest") { guestState(msg.state); return; }
    if (!thirdParty) { return; }
    if (role === "patient" && msg.state === "asking") { ask(msg); return; }
    var who = msg.capacity.charAt(0).toUpperCase() + msg.capacity.slice(1);
    var text = {
      invited: who + " est invité à la consultation.",
      asking: who + " a donné son accord : le patient doit accepter sa présence.",
      admitted: role === "patient" ? "Vous avez accepté la présence de " + msg.capacity + "." : "Le patient a accepté la présence de " + msg.capacity + ".",
      refused: role === "patient" ? "Vous avez refusé la présence de " + msg.capacity + "." : "Le patient a refusé la présence de " + msg.capacity + ".",
      revoked: "L'invitation de " + msg.capacity + " a été retirée."
    }[msg.state];
    if (text) { thirdParty.textContent = text; }
    room.setAttribute("data-third-party", msg.state);
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + room.getAttribute("data-signal"));
    socket.onopen = function () { room.setAttribute("data-socket", "open"); room.setAttribute("data-socket-opened", "1"); };
    socket.onmessage = onMessage;
    socket.onclose = function (e) {
      room.setAttribute("data-socket", "closed");
      Object.keys(peers).forEach(drop);
      if (closed) { return; }
      if (e.code === 4403 || e.code === 1006 && !room.getAttribute("data-socket-opened")) {
        say("L'accès à cette salle vous est refusé, ou le lien a expiré.");
        return;
      }
      setTimeout(connect, 2000);
    };
  }

  // --- Quality figures (getStats) and the waiting room's place -----------------------------------------------------
  function sample(peer) {
    return peer.pc.getStats().then(function (report) {
      var out = {}, lost = 0, received = 0;
      report.forEach(function (r) {
        if (r.type === "candidate-pair" && r.nominated && r.state === "succeeded" && typeof r.currentRoundTripTime === "number") {
          out.rtt_ms = r.currentRoundTripTime * 1000;
        }
        if (r.type === "inbound-rtp") {
          lost += r.packetsLost || 0;
          received += r.packetsReceived || 0;
          if (r.kind === "video") {
            if (r.frameWidth) { out.width = r.frameWidth; out.height = r.frameHeight; }
            if (typeof r.jitter === "number") { out.jitter_ms = r.jitter * 1000; }
          } else if (r.kind === "audio" && typeof r.jitter === "number" && out.jitter_ms === undefined) {
            out.jitter_ms = r.jitter * 1000;
          }
        }
      });
      if (received + lost > 0) { out.loss_pct = 100 * lost / (received + lost); }
      return out;
    });
  }

  setInterval(function () {
    var ids = Object.keys(peers).filter(function (id) { return peers[id].pc.connectionState === "connected"; });
    if (!ids.length || status !== "in_consultation") { return; }
    sample(peers[ids[0]]).then(function (figures) {
      if (Object.keys(figures).length) { figures.type = "stats"; send(figures); }
    }).catch(function () {});
  }, STATS_EVERY);

  setInterval(function () { if (status === "waiting") { send({ type: "queue" }); } }, QUEUE_EVERY);

  // The camera opens only once the consent is recorded (this page is shown only then): the device check shows the
  // preview in the waiting room.
  openMedia().catch(function () {}).then(connect);
  window.maillageRoom = {
    peer: function () { var ids = Object.keys(peers); return ids.length ? peers[ids[0]].pc : null; },
    peers: function () { return Object.keys(peers).map(function (id) { return peers[id].pc; }); },
    send: send
  };
})();

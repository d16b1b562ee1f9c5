// The teleconsultation room: WebRTC between the practitioner and the patient, signalled over the room's WebSocket
// (message types in docs/teleconsultation.md). The practitioner makes the offer; the patient answers.
(function () {
  "use strict";
  var room = document.getElementById("room");
  if (!room || !window.RTCPeerConnection || !window.WebSocket) { return; }
  var role = room.getAttribute("data-role");
  var status = room.getAttribute("data-status");
  var message = document.getElementById("room-message");
  var localVideo = document.getElementById("local-video");
  var remoteVideo = document.getElementById("remote-video");
  var socket = null, pc = null, local = null, iceServers = [], pending = [], closed = false;
  var round = 0; // the offer's number: an answer or a candidate of an earlier round is ignored

  function say(text) { message.textContent = text; }

  function mediaError(err) {
    var name = err && err.name;
    if (name === "NotAllowedError") { return "L'accès à la caméra ou au micro a été refusé : autorisez-le dans votre navigateur, puis rechargez la page."; }
    if (name === "NotFoundError") { return "Aucune caméra ni aucun micro n'a été trouvé sur cet appareil."; }
    if (name === "NotReadableError") { return "La caméra ou le micro est déjà utilisé par une autre application."; }
    return "La caméra et le micro n'ont pas pu être ouverts.";
  }

  function openMedia() {
    if (local) { return Promise.resolve(local); }
    return navigator.mediaDevices.getUserMedia({ video: true, audio: true })
      .catch(function () { return navigator.mediaDevices.getUserMedia({ audio: true }); })
      .then(function (stream) {
        local = stream;
        localVideo.srcObject = stream;
        room.setAttribute("data-media", stream.getVideoTracks().length ? "video" : "audio");
        return stream;
      }, function (err) { say(mediaError(err)); throw err; });
  }

  function send(msg) {
    if (socket && socket.readyState === WebSocket.OPEN) { socket.send(JSON.stringify(msg)); }
  }

  function newPeer() {
    if (pc) { pc.close(); }
    pending = [];
    pc = new RTCPeerConnection({ iceServers: iceServers });
    local.getTracks().forEach(function (track) { pc.addTrack(track, local); });
    pc.onicecandidate = function (e) { if (e.candidate) { send({ type: "candidate", n: round, candidate: e.candidate.toJSON() }); } };
    pc.ontrack = function (e) { if (remoteVideo.srcObject !== e.streams[0]) { remoteVideo.srcObject = e.streams[0]; } };
    pc.onconnectionstatechange = function () {
      room.setAttribute("data-connection", pc.connectionState);
      if (pc.connectionState === "connected") { say("Vous êtes en consultation."); }
      if (pc.connectionState === "failed") { say("La connexion vidéo a échoué : nouvel essai…"); if (role === "practitioner") { offer(); } }
    };
    return pc;
  }

  function flush() {
    pending.splice(0).forEach(function (c) { pc.addIceCandidate(c).catch(function () {}); });
  }

  function offer() {
    if (pc && (pc.connectionState === "connected" || pc.connectionState === "connecting")) { return; }
    openMedia().then(function () {
      round += 1;
      var peer = newPeer();
      return peer.createOffer().then(function (o) { return peer.setLocalDescription(o); })
        .then(function () { send({ type: "offer", n: round, sdp: peer.localDescription.sdp }); });
    }).catch(function () {});
  }

  function answer(sdp, n) {
    round = n;
    openMedia().then(function () {
      if (round !== n) { return; }
      var peer = newPeer();
      return peer.setRemoteDescription({ type: "offer", sdp: sdp })
        .then(function () { flush(); return peer.createAnswer(); })
        .then(function (a) { return peer.setLocalDescription(a); })
        .then(function () { send({ type: "answer", n: n, sdp: peer.localDescription.sdp }); });
    }).catch(function () {});
  }

  function setStatus(next) {
    status = next;
    room.setAttribute("data-status", next);
    if (next === "in_consultation" && role === "patient") {
      say("Votre médecin vous fait entrer…");
      send({ type: "present" });
    }
    if (next === "done" || next === "cancelled") {
      closed = true;
      if (pc) { pc.close(); }
      if (local) { local.getTracks().forEach(function (t) { t.stop(); }); }
      room.setAttribute("data-connection", "closed");
      say(next === "done" ? "La consultation est terminée. Vous pouvez fermer cette page." : "Le rendez-vous a été annulé.");
    }
  }

  function onMessage(event) {
    var msg;
    try { msg = JSON.parse(event.data); } catch (e) { return; }
    if (msg.type === "welcome") {
      iceServers = msg.ice_servers || [];
      setStatus(msg.status);
      if (role === "practitioner" || msg.status === "in_consultation") { send({ type: "present" }); }
    } else if (msg.type === "state") {
      setStatus(msg.status);
    } else if (msg.type === "peer-joined") {
      if (role === "practitioner") { offer(); } else if (status === "in_consultation") { send({ type: "present" }); }
    } else if (msg.type === "present") {
      if (role === "practitioner") { offer(); } else if (status === "in_consultation" && !pc) { send({ type: "present" }); }
    } else if (msg.type === "offer" && role === "patient") {
      answer(msg.sdp, msg.n);
    } else if (msg.type === "answer" && role === "practitioner" && pc && msg.n === round) {
      pc.setRemoteDescription({ type: "answer", sdp: msg.sdp }).then(flush).catch(function () {});
    } else if (msg.type === "candidate" && pc && msg.n === round) {
      if (pc.remoteDescription) { pc.addIceCandidate(msg.candidate).catch(function () {}); } else { pending.push(msg.candidate); }
    } else if (msg.type === "peer-left") {
      if (!closed && status === "in_consultation") { say(role === "practitioner" ? "Le patient s'est déconnecté : en attente de son retour…" : "Votre médecin s'est déconnecté : en attente de son retour…"); }
    } else if (msg.type === "error") {
      say(msg.message);
    }
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + room.getAttribute("data-signal"));
    socket.onopen = function () { room.setAttribute("data-socket", "open"); };
    socket.onmessage = onMessage;
    socket.onclose = function (e) {
      room.setAttribute("data-socket", "closed");
      if (closed) { return; }
      if (e.code === 4403 || e.code === 1006 && !room.getAttribute("data-socket-opened")) {
        say("L'accès à cette salle vous est refusé, ou le lien a expiré.");
        return;
      }
      setTimeout(connect, 2000);
    };
    socket.addEventListener("open", function () { room.setAttribute("data-socket-opened", "1"); });
  }

  // The patient's camera opens only once the consent is recorded (this page is shown only then): a preview in
  // the waiting room, which also checks the devices.
  openMedia().catch(function () {}).then(connect);
  window.maillageRoom = { peer: function () { return pc; } };
})();

// The pharmacy counter: read the prescription's QR code from the camera where the browser has a BarcodeDetector
// (Chromium on Android, macOS, ChromeOS); typing the number always works, and the button stays hidden otherwise.
(function () {
  "use strict";
  const button = document.getElementById("scan-button");
  const video = document.getElementById("scan-video");
  const field = document.getElementById("numero");
  const status = document.getElementById("scan-status");
  const form = document.getElementById("number-form");
  if (!button || !("BarcodeDetector" in window) || !navigator.mediaDevices) {
    return;
  }
  button.hidden = false;
  button.addEventListener("click", async function () {
    let detector;
    try {
      detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    } catch (error) {
      status.textContent = "La lecture du QR code n'est pas disponible : saisissez le numéro.";
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
    } catch (error) {
      status.textContent = "Caméra indisponible ou refusée : saisissez le numéro.";
      return;
    }
    video.srcObject = stream;
    video.hidden = false;
    await video.play();
    status.textContent = "Présentez le QR code de l'ordonnance à la caméra.";
    const stop = function () {
      stream.getTracks().forEach(function (track) { track.stop(); });
      video.hidden = true;
    };
    const look = async function () {
      try {
        const codes = await detector.detect(video);
        const found = codes.find(function (code) { return code.rawValue.indexOf("MAILLAGE-RX:") === 0; });
        if (found) {
          stop();
          field.value = found.rawValue;
          status.textContent = "QR code lu.";
          form.submit();
          return;
        }
      } catch (error) {
        stop();
        status.textContent = "Lecture impossible : saisissez le numéro.";
        return;
      }
      window.requestAnimationFrame(look);
    };
    window.requestAnimationFrame(look);
  });
})();

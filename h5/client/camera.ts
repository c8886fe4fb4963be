/**
 * The token app's camera (h5/client/token-app.ts): reads a QR code from the back camera with the
 * browser's own `BarcodeDetector`, where the browser has one that reads QR codes and a camera API.
 * No decoder is shipped: elsewhere the token app takes the payload pasted (or from the fragment).
 */

interface Detected { rawValue: string }
interface Detector { detect(source: HTMLVideoElement): Promise<Detected[]> }
interface DetectorClass {
  new (options: { formats: string[] }): Detector;
  getSupportedFormats(): Promise<string[]>;
}
/** What the check reads from the page's global object. */
export interface CameraGlobals {
  BarcodeDetector?: DetectorClass;
  navigator?: { mediaDevices?: { getUserMedia?: unknown } };
}

/** True when the browser can scan: `BarcodeDetector` reading `qr_code`, and `getUserMedia`. */
export async function canScanQr(g: CameraGlobals): Promise<boolean> {
  if (typeof g.BarcodeDetector?.getSupportedFormats !== 'function') return false;
  if (typeof g.navigator?.mediaDevices?.getUserMedia !== 'function') return false;
  try {
    return (await g.BarcodeDetector.getSupportedFormats()).includes('qr_code');
  } catch {
    return false;
  }
}

/**
 * Shows the back camera in `video` and reads frames until `accept` takes a detected value (it
 * returns true), then stops the camera's tracks. Rejects when the camera is refused.
 */
export async function scanQr(video: HTMLVideoElement, accept: (value: string) => boolean): Promise<void> {
  const Detector = (globalThis as CameraGlobals).BarcodeDetector!;
  const detector = new Detector({ formats: ['qr_code'] });
  const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false });
  const stop = () => {
    for (const t of stream.getTracks()) t.stop();
    video.srcObject = null;
    video.hidden = true;
    removeEventListener('pagehide', stop);
  };
  addEventListener('pagehide', stop);
  try {
    video.srcObject = stream;
    video.hidden = false;
    await video.play();
    for (;;) {
      if (video.readyState >= 2) {
        const found = await detector.detect(video);
        if (found.some((d) => accept(d.rawValue))) return;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    stop();
  }
}

"""The serving anchor: a FastAPI app that classifies one PNG per request with ONNX Runtime.

What a team would otherwise deploy: uvicorn on a Unix socket (`--uds`), Pillow to decode, the
checkpoint's normalisation, one ONNX Runtime session per worker process. It answers the subset of
revserve's API that the load generator (`revserve bench load`) uses, with the same JSON shapes:
  POST /v2/models/{name}/classify   raw PNG body → {"model_name", "classifications": [...]}
  GET  /v2/models/{name}/stats      Triton-style inference_count / execution_count (this worker)
  GET  /v2/health/ready
Run: REVSERVE_ONNX=model.onnx REVSERVE_CHECKPOINT=model.h5 uvicorn serve_ort:app --uds S --workers 2
"""

import io
import os

import numpy as np
import onnxruntime as ort
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from PIL import Image

from revnet_torch import read_checkpoint

_, CONFIG, _ = read_checkpoint(os.environ["REVSERVE_CHECKPOINT"])
C, H, W = CONFIG["input_shape"]
MEAN = np.array(CONFIG["mean"], dtype=np.float32).reshape(C, 1, 1)
STD = np.array(CONFIG["std"], dtype=np.float32).reshape(C, 1, 1)
MODEL = os.environ.get("REVSERVE_MODEL", "model")

options = ort.SessionOptions()
options.intra_op_num_threads = int(os.environ.get("ORT_THREADS", "1"))
options.inter_op_num_threads = 1
SESSION = ort.InferenceSession(os.environ["REVSERVE_ONNX"], options, providers=["CPUExecutionProvider"])
COUNTS = {"inference_count": 0, "execution_count": 0}

app = FastAPI()


@app.get("/v2/health/ready")
def ready():
    return {}


@app.get("/v2/models/{name}/stats")
def stats(name: str):
    return {"model_stats": [{"name": name, "version": "1", **COUNTS}]}


@app.post("/v2/models/{name}/classify")
async def classify(name: str, request: Request, top: int = 1):
    if name != MODEL:
        raise HTTPException(404, f"unknown model '{name}'")
    body = await request.body()
    try:
        image = Image.open(io.BytesIO(body)).convert("RGB" if C == 3 else "L").resize((W, H))
    except Exception as error:  # noqa: BLE001 - any decoding failure is the client's
        return JSONResponse({"error": f"cannot decode the image: {error}"}, status_code=400)
    x = np.asarray(image, dtype=np.float32).reshape(H, W, C).transpose(2, 0, 1) / 255.0
    x = ((x - MEAN) / STD)[None].astype(np.float32)
    logits = SESSION.run(None, {"input": x})[0][0]
    e = np.exp(logits - logits.max())
    p = e / e.sum()
    order = np.argsort(-p)[:top]
    COUNTS["inference_count"] += 1
    COUNTS["execution_count"] += 1
    return {"model_name": name, "classifications": [
        {"index": int(i), "label": str(i), "probability": float(p[i])} for i in order]}

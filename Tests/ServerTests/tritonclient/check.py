"""Triton's own Python HTTP client against revserve's loopback TCP listener.

Usage: check.py URL MODEL SAMPLE.png   (URL as host:port). Exits non-zero on any mismatch.
Checks readiness, model metadata, infer with a BYTES PNG input and with an FP32 input
(binary tensor data both ways, as tritonclient sends by default), and the classification
extension through InferRequestedOutput(..., class_count=3).
"""
import sys

import numpy as np
import tritonclient.http as httpclient

url, model, sample = sys.argv[1], sys.argv[2], sys.argv[3]
client = httpclient.InferenceServerClient(url=url)

assert client.is_server_live(), "server not live"
assert client.is_server_ready(), "server not ready"
assert client.is_model_ready(model), "model not ready"
assert not client.is_model_ready("no-such-model"), "unknown model reported ready"

meta = client.get_model_metadata(model)
assert meta["name"] == model and meta["versions"] == ["1"], meta
inputs = {i["name"]: i for i in meta["inputs"]}
assert inputs["image"]["datatype"] == "BYTES" and inputs["input"]["datatype"] == "FP32", meta
chw = inputs["input"]["shape"][1:]
classes = meta["outputs"][0]["shape"][1]
server = client.get_server_metadata()
assert "binary_tensor_data" in server["extensions"] and "classification" in server["extensions"], server

png = open(sample, "rb").read()

# BYTES input: two PNGs, classification top 3 of the probabilities plus the raw logits.
image = httpclient.InferInput("image", [2], "BYTES")
image.set_data_from_numpy(np.array([png, png], dtype=np.object_), binary_data=True)
outputs = [
    httpclient.InferRequestedOutput("probabilities", binary_data=True, class_count=3),
    httpclient.InferRequestedOutput("logits", binary_data=True),
]
result = client.infer(model, [image], outputs=outputs, request_id="tc-1")
top = result.as_numpy("probabilities")
assert top.shape == (2, 3), top.shape
first = [t.decode() if isinstance(t, bytes) else t for t in top[0]]
values = [float(s.split(":")[0]) for s in first]
assert values == sorted(values, reverse=True) and 0 < values[0] <= 1, first
logits = result.as_numpy("logits")
assert logits.shape == (2, classes) and logits.dtype == np.float32, logits.shape
assert int(first[0].split(":")[1]) == int(np.argmax(logits[0])), (first, logits[0])
assert result.get_response()["model_name"] == model

# FP32 input: random preprocessed tensors, binary in, JSON out.
x = np.random.default_rng(0).standard_normal([3] + chw).astype(np.float32)
tensor = httpclient.InferInput("input", [3] + chw, "FP32")
tensor.set_data_from_numpy(x, binary_data=True)
result = client.infer(model, [tensor], outputs=[httpclient.InferRequestedOutput("probabilities", binary_data=False)])
p = result.as_numpy("probabilities")
assert p.shape == (3, classes) and np.allclose(p.sum(axis=1), 1, atol=1e-5), p

# The same FP32 input as JSON.
tensor.set_data_from_numpy(x, binary_data=False)
again = client.infer(model, [tensor]).as_numpy("probabilities")
assert np.allclose(again, p, atol=1e-6), (again, p)

# Errors surface as the client's exception with the server's message.
try:
    client.infer("no-such-model", [tensor])
    raise AssertionError("unknown model accepted")
except httpclient.InferenceServerException as e:
    assert "unknown model" in str(e), str(e)

print("tritonclient: all checks passed")

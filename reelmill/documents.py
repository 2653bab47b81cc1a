"""A job document (ICE's request shape: InputConfig, EditingConfig, OutputConfig, UserData,
ClientToken, TemplateConfig, Seed, Priority) as the Submit request every client sends: the CLI's job
files and the web console's pasted documents alike. Configs go as JSON text, so that the gateway
validates exactly what the user wrote (and names the fields of a malformed one)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from reelmill.v1 import batch_service_pb2 as api

CONFIGS = {"InputConfig": "input_config_json", "EditingConfig": "editing_config_json",
           "OutputConfig": "output_config_json"}  # fmt: skip


Request = api.SubmitBatchMediaProducingJobRequest


def submit_request(doc: dict[str, Any], resolve: Callable[[Any], Any] = lambda value: value) -> Request:
    """`resolve` rewrites each config before it is sent (the CLI makes relative `file:` URLs absolute)."""
    req = api.SubmitBatchMediaProducingJobRequest(client_token=str(doc.get("ClientToken", "")))
    for key, field in CONFIGS.items():
        value = doc.get(key)
        if value is None:
            continue
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                setattr(req, field, value)  # malformed: the server says what is wrong with it
                continue
        setattr(req, field, json.dumps(resolve(value), ensure_ascii=False))
    user_data = doc.get("UserData")
    if user_data is not None:
        req.user_data = user_data if isinstance(user_data, str) else json.dumps(user_data, ensure_ascii=False)
    templates = doc.get("TemplateConfig")
    if isinstance(templates, str):
        req.template_config_json = templates  # ICE's form: a JSON array in a string, read by the gateway
    elif templates:
        req.template_config.extend(str(t) for t in templates)
    if doc.get("Seed") is not None:
        req.seed = int(doc["Seed"])
    if doc.get("Priority") is not None:
        req.priority = int(doc["Priority"])
    return req

from __future__ import annotations

import json
import logging

from forewarn.core.logs import JsonFormatter, request_id


def test_json_lines_carry_request_id_and_extras() -> None:
    record = logging.makeLogRecord(
        {
            "name": "forewarn.test",
            "levelno": logging.INFO,
            "levelname": "INFO",
            "msg": "hello %s",
            "args": ("world",),
            "path": "/x",
        }
    )
    token = request_id.set("req-12345678")
    try:
        line = JsonFormatter().format(record)
    finally:
        request_id.reset(token)
    data = json.loads(line)
    assert data["msg"] == "hello world" and data["request_id"] == "req-12345678" and data["path"] == "/x"
    assert "\n" not in line

"""AppTest of the Text view page: it renders for both models, its two switches change what the browser is sent,
the numbers sent are the trace's, and a long text's page stays small."""

from __future__ import annotations

import json
import re

import numpy as np
from streamlit.testing.v1 import AppTest

from tests.app.helpers import APP
from tests.texts import LONG
from viz.views.text_view import LOG_FLOOR, REL_ERROR, Encoded

TIMEOUT = 180
TEXT = "The cat sat on the mat because it was tired."
# A long page's size: k = 48 entries of 3 bytes per token (4 characters each in base64) plus the text: about
# 0.55 MB at 2,400 tokens. The bound leaves room for longer tokens, not for sending the n² matrix (5.8 MB).
MAX_PAYLOAD_2400 = 800_000


def new_app(**params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update(page="text_view", **params)
    return at.run()


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def page_html(at: AppTest) -> str:
    frames = at.get("iframe")
    assert len(frames) == 1, len(frames)
    return frames[0].proto.srcdoc


def sent(at: AppTest) -> tuple[dict, Encoded]:
    """The data block the page sends to the browser, and the same data as an Encoded (to decode it as the
    browser does)."""
    import base64

    block = re.search(r"<script id='tv-data' type='application/json'>(.*?)</script>", page_html(at), re.S)
    assert block is not None
    data = json.loads(block.group(1))
    codes = np.frombuffer(base64.b64decode(data["codes"]), dtype=np.uint8)
    index = np.frombuffer(base64.b64decode(data["index"]), dtype="<u2")
    top_index = np.frombuffer(base64.b64decode(data["topIndex"]), dtype="<u2")
    top_weight = np.frombuffer(base64.b64decode(data["topWeight"]), dtype="<f4")
    return data, Encoded(data["n"], data["dir"], data["layout"], data["k"], codes, index, 1.0, top_index, top_weight)


def assert_weights(enc: Encoded, exact: np.ndarray, direction: str) -> None:
    for i in range(enc.n):
        want = exact[i] if direction == "query" else exact[:, i]
        assert np.all(np.abs(enc.weights(i) - want) <= REL_ERROR * want + LOG_FLOOR + 1e-9), (direction, i)
        index, weight = enc.strongest(i)  # the hover's named weights: the model's own, in its order
        order = np.argsort(-want, kind="stable")[: len(index)]
        assert index.tolist() == order.tolist() and np.allclose(weight, want[order], rtol=1e-6, atol=1e-7), i


def test_smollm_query_key_and_all_heads(smollm) -> None:
    from services.traces import get_trace

    at = new_app(text=TEXT, layer="5", head="4")
    assert_clean(at)
    assert at.title[0].value == "Text view"
    trace = get_trace(smollm, TEXT, None, 4096)
    data, enc = sent(at)
    assert data["dir"] == "query" and data["layout"] == "tri" and data["n"] == trace.n_tokens
    assert "".join(data["shown"]) == TEXT and "layer 5, head 4" in page_html(at)
    assert_weights(enc, trace.pattern(5, 4).numpy(), "query")

    at.radio(key="tv_direction").set_value("key").run()
    assert_clean(at)
    data, enc = sent(at)
    assert data["dir"] == "key" and "as a key" in page_html(at)
    assert_weights(enc, trace.pattern(5, 4).numpy(), "key")

    at.radio(key="tv_heads").set_value("all").run()
    assert_clean(at)
    data, enc = sent(at)
    assert "the mean over layer 5's 9 heads" in page_html(at)
    assert_weights(enc, trace.layer_patterns(5).numpy().mean(axis=0), "key")


def test_minilm_renders_its_bidirectional_pattern(minilm) -> None:
    from services.traces import get_trace

    at = new_app(model="minilm-l6", text="take a biopsy of the mole", layer="2", head="7")
    assert_clean(at)
    data, enc = sent(at)
    assert data["layout"] == "square" and data["shown"][0] == "[CLS]" and data["chip"][0] == 1
    assert_weights(enc, get_trace(minilm, "take a biopsy of the mole", None, 512).pattern(2, 7).numpy(), "query")


def test_long_text_is_sent_as_top_k_and_stays_small(smollm) -> None:
    from services.traces import get_trace

    at = new_app()
    text = LONG * 6  # 2,431 SmolLM2 tokens
    at.text_area(key="text").set_value(text).run()
    assert_clean(at)
    data, enc = sent(at)
    assert data["n"] > 2000 and data["layout"] == "topk" and data["k"] == 48
    html = page_html(at)
    assert len(html.encode()) < MAX_PAYLOAD_2400, len(html.encode())
    share = re.search(r"top 48 keys, which hold (\d+\.\d) % of its weight on average", html)
    assert share is not None
    exact = get_trace(smollm, text, True, 4096).pattern(0, 0).numpy()  # the app's trace (cache hit), layer, head
    kept = np.sort(exact, axis=1)[:, -48:].sum(axis=1).mean()
    assert abs(float(share.group(1)) - 100 * kept) <= 0.051  # shown with one decimal

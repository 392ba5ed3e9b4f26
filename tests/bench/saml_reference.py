"""scripts/bench sso (SAML half): python3-saml, the reference SP of the SAML black-box tests
(tests/blackbox/saml/reference.py: strict, SHA-1 refused, the IdP's certificate pinned), timed on the very
responses `cargo bench -p tessera-saml --bench acs` verified and wrote to DIR (SAML_BENCH_OUT), judged at
the same instant (`reference.judge`, with the `mock.patch` of its clock it makes per call). Prints the Markdown table with both figures and their ratio. Asserts nothing; a response
python3-saml refuses is reported as refused rather than timed.

Usage (from the repository root, in .tools/venv-saml): python tests/bench/saml_reference.py DIR
"""

import datetime
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.blackbox.saml import reference  # noqa: E402

ROUNDS = 7


def best_of(f, round_seconds=0.5):
    """Best of ROUNDS rounds of about `round_seconds` each, in µs per call (after a warm-up)."""
    t0 = time.perf_counter()
    for _ in range(3):
        f()
    n = max(10, round(round_seconds / ((time.perf_counter() - t0) / 3)))
    best = float("inf")
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        for _ in range(n):
            f()
        best = min(best, (time.perf_counter() - t0) * 1e6 / n)
    return best


def main():
    out = Path(sys.argv[1])
    rust = json.loads((out / "rust.json").read_text())
    print(
        f"\n| ACS verification (µs per response, best of {ROUNDS}) | tessera-saml (native) "
        "| python3-saml 1.16.0 (xmlsec 1.3.17) | ratio (tessera ÷ python3-saml) |\n|---|---|---|---|"
    )
    for name, ours in rust.items():
        case = json.loads((out / f"{name}.json").read_text())
        config = reference.settings(
            case["sp_entity_id"],
            case["acs_url"],
            case["idp_entity_id"],
            "https://idp.example/sso",
            [case["idp_cert"]],
            case.get("sp_key_pem"),
            case.get("sp_cert_pem"),
        )
        now = datetime.datetime.fromisoformat(case["now"].replace("Z", "+00:00"))
        judge = lambda: reference.judge(config, case["saml_response"], case["request_id"], now)  # noqa: E731
        verdict = judge()
        if not verdict.accepted:
            print(f"| {ours['label']} | {ours['us']:.1f} | refused: {verdict.reason} | — |")
            continue
        theirs = best_of(judge)
        print(f"| {ours['label']} | {ours['us']:.1f} | {theirs:.1f} | {ours['us'] / theirs:.2f}× |")


if __name__ == "__main__":
    main()

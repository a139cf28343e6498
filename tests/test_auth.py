"""Authentication over HTTP: bearer and cookie tokens, both claim shapes, and every bad token -> 401."""

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.conftest import SECRET, Api, app_client, token


def claims(**overrides):
    now = int(time.time())
    return {"sub": "5", "email": "u@example.com", "role": "admin", "orgs": [], "iat": now,
            "exp": now + 600, **overrides}


def sign(payload, key=SECRET, alg="HS256"):
    return jwt.encode(payload, key, algorithm=alg)


def unsigned(payload):
    def part(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}."


def test_our_claim_shape_stamps_the_creator(client):
    api = Api(client, sign(claims(email="maker@example.com")))
    project = api.create("projects", name="P", organization_id=1)
    assert project["attributes"]["created_by_email"] == "maker@example.com"


def test_reference_claim_shape_is_accepted(client):
    payload = {"u": {"id": 9, "email": "ref@example.com", "name": "Ref"}, "r": "admin",
               "s": {"org": [1]}, "exp": int(time.time()) + 600}
    api = Api(client, sign(payload))
    project = api.create("projects", name="P", organization_id=1)
    member = api.create("project_members", project_id=project["id"], account_id=3,
                        email="m@example.com", role="annotator")
    assert project["attributes"]["created_by_email"] == "ref@example.com"
    assert member["attributes"]["invited_by_id"] == 9


def test_cookie_token_is_accepted(client):
    client.cookies.set("auth-token", token())
    assert client.get("/projects", headers={"Accept": "application/vnd.api+json"}).status_code == 200


@pytest.mark.parametrize("bad", [
    "", "not-a-jwt", sign(claims(exp=int(time.time()) - 10)), sign(claims(), key="x" * 40),
    unsigned(claims()), sign({k: v for k, v in claims().items() if k != "exp"}),
    sign(claims(role="superuser")), sign(claims(sub="abc")), sign(claims())[:-3] + "AAA",
], ids=["empty", "garbage", "expired", "wrong-key", "alg-none", "no-exp", "bad-role", "bad-sub",
        "tampered"])
def test_bad_tokens_get_401(client, bad):
    resp = Api(client, bad or None).get("/projects")
    assert resp.status_code == 401
    assert resp.json()["errors"][0]["status"] == "401"


def test_open_routes_need_no_token(anon):
    assert anon.get("/healthz").json() == {"status": "ok"}
    assert anon.get("/openapi.json", headers={"Accept": "application/json"}).status_code == 200
    assert anon.get("/projects").status_code == 401


def test_public_key_verification(tmp_path):
    private = ec.generate_private_key(ec.SECP256R1())
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    with app_client(tmp_path, jwt_public_key=public_pem) as client:
        assert Api(client, sign(claims(), key=private, alg="ES256")).get("/projects").status_code == 200
        assert Api(client, sign(claims())).get("/projects").status_code == 401


def test_a_token_seen_before_still_expires(client, monkeypatch):
    """Verified tokens are remembered (clients repeat them on every request), but only until
    their ``exp``: the same token is refused once it has expired."""
    from dataset_api.auth import tokens

    api = Api(client, token(ttl=60))
    assert api.get("/projects").status_code == 200
    assert api.get("/projects").status_code == 200
    later = time.time() + 120
    monkeypatch.setattr(tokens.time, "time", lambda: later)
    resp = api.get("/projects")
    assert resp.status_code == 401, resp.text


BIG = 2**63
NEXT = "/entries/next?filter[dataset_id]=1"
BAD_IDS = [BIG, str(BIG), 2**64 + 1, "9" * 5000, 0, "0", -1, "-1", True, False, 7.0, 7.5, "07",
           " 7", "+7", "", None, [7], {"id": 7}]
BAD_ID_NAMES = ["2^63", "2^63-str", "2^64+1", "5000-digits", "zero", "zero-str", "negative",
                "negative-str", "true", "false", "float", "fraction", "leading-zero", "space",
                "plus", "empty", "null", "list", "object"]


def bad_id_tokens(bad):
    """A token of each shape carrying ``bad`` where an id goes: our ``sub`` and ``orgs``, the
    reference shape's ``u.id`` and ``s.org`` (every one an admin or org owner, who could write)."""
    reference = {"u": {"id": 9, "email": "ref@example.com"}, "r": "org_owner", "s": {"org": [1]},
                 "exp": int(time.time()) + 600}
    return [sign(claims(sub=bad)), sign(claims(role="org_owner", orgs=[1, bad])),
            sign({**reference, "u": {**reference["u"], "id": bad}}),
            sign({**reference, "s": {"org": [bad]}})]


def rpc_index(client, bearer):
    return client.post("/annotations/_rpc", headers={"Authorization": f"Bearer {bearer}"},
                       json={"jsonrpc": "2.0", "method": "index", "id": 1, "params": {}})


@pytest.mark.parametrize("bad", BAD_IDS, ids=BAD_ID_NAMES)
def test_a_bad_id_in_a_token_is_401_on_every_route(client, bad):
    """Every id a token carries must be a positive int64 (a JSON integer or its decimal string);
    2^63 used to reach the database as an OverflowError (500) on ``GET /entries/next``."""
    project = {"data": {"type": "dataset:projects", "attributes": {"name": "P", "organization_id": 1}}}
    for bearer in bad_id_tokens(bad):
        api = Api(client, bearer)
        for resp in (api.get(NEXT), api.post("/projects", project)):
            assert resp.status_code == 401, resp.text
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
            assert resp.json()["errors"][0]["status"] == "401"
        resp = rpc_index(client, bearer)
        assert resp.status_code == 401, resp.text
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert resp.json()["error"]["code"] == -32001
    assert Api(client, token()).get("/projects").json()["data"] == []  # nothing was written


@pytest.mark.parametrize("orgs", ["1", {"1": 1}, 1], ids=["string", "object", "number"])
def test_orgs_that_are_not_a_list_are_401(client, orgs):
    assert Api(client, sign(claims(role="org_owner", orgs=orgs))).get("/projects").status_code == 401
    reference = {"u": {"id": 9, "email": "r@example.com"}, "r": "org_owner", "s": [1],
                 "exp": int(time.time()) + 600}
    assert Api(client, sign(reference)).get("/projects").status_code == 401


@pytest.mark.parametrize("good", [2**63 - 1, str(2**63 - 1), 7, "7"], ids=["max", "max-str", "int", "str"])
def test_ids_up_to_int64_as_integers_or_decimal_strings_are_accepted(client, good):
    # PyJWT itself requires ``sub`` to be a string (RFC 7519 §4.1.2's StringOrURI)
    api = Api(client, sign(claims(sub=str(good), role="org_owner", orgs=[good, 1])))
    assert api.get(NEXT).status_code in (200, 204, 404)
    project = api.create("projects", name="P", organization_id=1)
    member = api.create("project_members", project_id=project["id"], account_id=3,
                        email="m@example.com", role="annotator")
    assert member["attributes"]["invited_by_id"] == int(good)
    reference = {"u": {"id": good, "email": "r@example.com"}, "r": "org_owner",
                 "s": {"org": [good]}, "exp": int(time.time()) + 600}
    assert Api(client, sign(reference)).get("/projects").status_code == 200

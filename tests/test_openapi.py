"""The OpenAPI document (searchsvc/web/openapi.json): well formed, complete, and true.

Real responses of a real index are validated against the document's own schemas, found
the way a client would find them (path, method, status, falling back to ``default``).
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_api_error
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from searchsvc.web import admin, create_app

SPEC_PATH = Path(__file__).resolve().parent.parent / "searchsvc" / "web" / "openapi.json"
SPEC_URI = "urn:searchsvc:openapi"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def _pointer_part(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


class OpenAPI:
    """The document, with ``$ref`` resolution and response validation."""

    def __init__(self, doc: dict[str, Any]):
        self.doc = doc
        resource = Resource.from_contents(doc, default_specification=DRAFT202012)
        self.registry: Registry = Registry().with_resource(SPEC_URI, resource)

    @classmethod
    def load(cls) -> OpenAPI:
        return cls(json.loads(SPEC_PATH.read_text(encoding="utf-8")))

    def node(self, pointer: str) -> Any:
        """The node at a JSON pointer ("/components/schemas/Hit")."""
        node: Any = self.doc
        for part in pointer.lstrip("/").split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            node = node[part]
        return node

    def _deref(self, pointer: str) -> str:
        node = self.node(pointer)
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            assert ref.startswith("#/"), f"only local $refs are expected, got {ref}"
            pointer = ref[1:]
            node = self.node(pointer)
        return pointer

    def response_pointer(self, path: str, method: str, status: int) -> str:
        """Where the documented response for this status is (``default`` if not listed)."""
        responses = f"/paths/{_pointer_part(path)}/{method.lower()}/responses"
        listed = self.node(responses)
        key = str(status) if str(status) in listed else "default"
        assert key in listed, f"{method.upper()} {path}: status {status} is not documented"
        return self._deref(f"{responses}/{key}")

    def validator(self, schema_pointer: str) -> Draft202012Validator:
        return Draft202012Validator(
            {"$ref": f"{SPEC_URI}#{schema_pointer}"},
            registry=self.registry,
            format_checker=Draft202012Validator.FORMAT_CHECKER,
        )

    def validate_body(self, path: str, method: str, status: int, body: Any) -> None:
        """Raise ``jsonschema.ValidationError`` unless ``body`` is what the document says;
        fail on fields the document does not describe (allowed, but then undocumented)."""
        pointer = self.response_pointer(path, method, status)
        content = self.node(pointer).get("content", {})
        assert "application/json" in content, f"{method} {path} {status}: no JSON documented"
        self.validator(f"{pointer}/content/application~1json/schema").validate(body)
        extra = self.undocumented(body, content["application/json"]["schema"])
        assert not extra, f"{method.upper()} {path} {status}: undocumented fields {extra}"

    def _schema(self, schema: dict) -> dict:
        while "$ref" in schema:
            schema = self.node(schema["$ref"][1:])
        return schema

    def _properties(self, schema: dict) -> dict[str, Any]:
        schema = self._schema(schema)
        props = dict(schema.get("properties", {}))
        for part in schema.get("allOf", []):
            props.update(self._properties(part))
        return props

    def undocumented(self, body: Any, schema: dict, where: str = "") -> list[str]:
        """Where ``body`` has object fields that ``schema`` does not list."""
        schema = self._schema(schema)
        found: list[str] = []
        if isinstance(body, dict):
            props = self._properties(schema)
            if not props:  # a free-form object
                return []
            for key, value in body.items():
                if key in props:
                    found += self.undocumented(value, props[key], f"{where}/{key}")
                else:
                    found.append(f"{where}/{key}")
        elif isinstance(body, list) and "items" in schema:
            for i, value in enumerate(body):
                found += self.undocumented(value, schema["items"], f"{where}/{i}")
        return found

    def validate(self, path: str, method: str, response) -> Any:
        """Check a test-client response against the document; return its JSON body."""
        assert response.mimetype == "application/json", response.data[:200]
        body = json.loads(response.data)
        self.validate_body(path, method, response.status_code, body)
        return body


@pytest.fixture(scope="module")
def spec() -> OpenAPI:
    return OpenAPI.load()


# --- the document itself ------------------------------------------------------------


def _walk(node: Any, pointer: str = "") -> Iterator[tuple[str, Any]]:
    yield pointer, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{pointer}/{_pointer_part(key)}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{pointer}/{i}")


def test_document_is_openapi_3_1(spec):
    doc = spec.doc
    assert re.fullmatch(r"3\.1\.\d+", doc["openapi"])
    assert doc["info"]["title"] and doc["info"]["version"] and doc["info"]["description"]
    assert set(doc) <= {"openapi", "info", "jsonSchemaDialect", "servers", "paths", "webhooks",
                        "components", "security", "tags", "externalDocs"}
    assert doc["paths"] and all(path.startswith("/") for path in doc["paths"])


def test_every_ref_resolves(spec):
    refs = [(p, n["$ref"]) for p, n in _walk(spec.doc) if isinstance(n, dict) and "$ref" in n]
    assert refs
    for where, ref in refs:
        assert ref.startswith("#/"), where
        try:
            spec.node(ref[1:])
        except (KeyError, IndexError, TypeError):
            pytest.fail(f"{where}: $ref {ref} does not resolve")


def test_every_operation_is_described_and_answers_in_the_error_shape(spec):
    operation_ids = []
    error_ptr = "/components/schemas/Error"
    for path, item in spec.doc["paths"].items():
        declared = {p["name"] for p in _parameters(spec, item)}
        for method in set(item) & set(METHODS):
            op = item[method]
            where = f"{method.upper()} {path}"
            operation_ids.append(op["operationId"])
            assert op["summary"] and op["description"], where
            params = declared | {p["name"] for p in _parameters(spec, op)}
            assert set(re.findall(r"{([^}]+)}", path)) <= params, f"{where}: path parameters"
            assert op["responses"], where
            assert any(code.startswith("2") for code in op["responses"]), where
            assert "default" in op["responses"], f"{where}: no default (error) response"
            for code in op["responses"]:
                assert code == "default" or re.fullmatch(r"[1-5][0-9X]{2}", code), where
                response = spec.node(spec.response_pointer(path, method, code_int(code)))
                assert response["description"], f"{where} {code}"
                if code == "default" or code[0] in "45":
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    if ref != f"#{error_ptr}":  # the one shape with more beside it (admin 409)
                        extended = spec.node(ref[1:])["allOf"][0]
                        assert extended == {"$ref": f"#{error_ptr}"}, f"{where} {code}: error shape"
    assert len(operation_ids) == len(set(operation_ids)), "operationIds must be unique"


def code_int(code: str) -> int:
    return 599 if code == "default" else int(code)


def _parameters(spec: OpenAPI, holder: dict) -> list[dict]:
    return [spec.node(p["$ref"][1:]) if "$ref" in p else p for p in holder.get("parameters", [])]


def test_parameters_are_complete(spec):
    for name, param in spec.doc["components"]["parameters"].items():
        assert param["in"] in ("query", "path", "header", "cookie"), name
        assert param["description"] and "schema" in param, name
        if param["in"] == "path":
            assert param["required"] is True, name
        Draft202012Validator.check_schema(param["schema"])


def test_component_schemas_are_valid_json_schema_with_required_fields(spec):
    schemas = spec.doc["components"]["schemas"]
    for name, schema in schemas.items():
        Draft202012Validator.check_schema(schema)
        assert schema.get("description") or name == "Ready" or schema.get("allOf"), name
        if schema.get("type") == "object":
            assert set(schema["required"]) <= set(schema["properties"]), name
            assert schema.get("additionalProperties", True) is not False, name


def test_examples_match_their_schemas(spec):
    """Every example in the document is valid for the schema beside it."""
    checked = 0
    for pointer, node in _walk(spec.doc):
        if not isinstance(node, dict) or "schema" not in node:
            continue
        examples = [e["value"] for e in node.get("examples", {}).values()]
        if "example" in node:
            examples.append(node["example"])
        for example in examples:
            spec.validator(f"{pointer}/schema").validate(example)
            checked += 1
    for name, schema in spec.doc["components"]["schemas"].items():
        if "example" in schema:
            spec.validator(f"/components/schemas/{name}").validate(schema["example"])
            checked += 1
    assert checked >= 5
    search_ok = spec.node(spec.response_pointer("/api/search", "get", 200))
    assert search_ok["content"]["application/json"]["examples"], "/api/search has an example"


def test_the_document_covers_exactly_the_json_routes(app, spec):
    """Every JSON route of the app is documented, and every documented one exists."""
    served: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        if path.startswith("/api/") or path in ("/healthz", "/readyz", "/metrics"):
            methods = {m.lower() for m in rule.methods or ()} - {"head", "options"}
            served.setdefault(path, set()).update(methods)
    documented = {
        path: set(item) & set(METHODS) for path, item in spec.doc["paths"].items()
    }
    assert documented == served


def test_the_document_is_served(client, spec):
    r = client.get("/api/openapi.json")
    assert r.status_code == 200
    assert r.mimetype == "application/json"
    assert r.get_json() == spec.doc
    spec.validate("/api/openapi.json", "get", r)


def test_the_document_is_packaged():
    """The package data in pyproject.toml includes the document (wheels and sdists)."""
    text = (SPEC_PATH.parent.parent.parent / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'"searchsvc\.web" = \[[^\]]*"openapi\.json"', text)


# --- real responses against the document ---------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"q": "ECMO"},
        {"q": "ECMO", "page": "1", "size": "1"},
        {"q": "医院", "page": "2", "size": "5"},
        {"q": "医院", "size": "100"},
        {"q": "妇幼 保健"},
        {"q": "ECMO OR MDT"},
        {"q": "中医 -江津"},
        {"q": '"急危重症 救治"'},
        {"q": "ｅｃｍｏ"},
        {"q": "no-such-thing-xyzzy"},
        {"q": "OR"},
        {"q": "<b>医院</b>&amp;"},
        {"q": "医院", "page": "9999", "size": "1"},
        {"q": "医院", "unknown": "param"},
    ],
)
def test_search_responses_match_the_document(client, spec, params):
    r = client.get("/api/search", query_string=params)
    assert r.status_code == 200
    body = spec.validate("/api/search", "get", r)
    assert body["total"] >= len(body["hits"])


def test_search_hits_and_no_hits_both_occur(client, spec):
    some = spec.validate("/api/search", "get", client.get("/api/search?q=医院&size=3"))
    none = spec.validate("/api/search", "get", client.get("/api/search?q=xyzzy-nothing"))
    assert len(some["hits"]) == 3 and some["total"] > 3
    assert none["hits"] == [] and none["total"] == 0
    page2 = spec.validate("/api/search", "get", client.get("/api/search?q=医院&size=3&page=2"))
    assert page2["page"] == 2 and page2["hits"]
    assert {h["id"] for h in page2["hits"]}.isdisjoint(h["id"] for h in some["hits"])


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "empty_query"),
        ({"q": "  "}, "empty_query"),
        ({"q": "医" * 201}, "query_too_long"),
        ({"q": "医院", "page": "0"}, "invalid_page"),
        ({"q": "医院", "page": "1.5"}, "invalid_page"),
        ({"q": "医院", "size": "101"}, "invalid_size"),
        ({"q": "医院", "size": "x"}, "invalid_size"),
        ({"q": "医院", "page": "101", "size": "100"}, "page_too_deep"),
        ({"q": " ".join(f"词{i}" for i in range(33))}, "too_many_keywords"),
    ],
)
def test_search_errors_match_the_document(client, spec, params, code):
    r = client.get("/api/search", query_string=params)
    assert_api_error(r, 400, code)
    spec.validate("/api/search", "get", r)


def test_article_matches_the_document(client, spec):
    hit = client.get("/api/search?q=ECMO").get_json()["hits"][0]
    for query in ("?q=ECMO", "", "?q=", "?q=" + "医" * 201):
        r = client.get(f"/api/articles/{hit['article_id']}{query}")
        assert r.status_code == 200
        body = spec.validate("/api/articles/{article_id}", "get", r)
        assert bool(body["matched_paragraphs"]) == (query == "?q=ECMO")


def test_every_seed_article_matches_the_document(client, spec, seed_articles):
    for article in seed_articles:
        r = client.get(f"/api/articles/{article.id}", query_string={"q": "的 医院"})
        assert r.status_code == 200, article.id
        spec.validate("/api/articles/{article_id}", "get", r)


def test_feed_articles_with_dates_and_urls_match_the_document(tmp_path, spec):
    """JSONL feeds give dates and urls, which the seed pages lack."""
    from searchsvc.corpus import iter_articles
    from searchsvc.lifecycle import build_from_articles

    data = Path(__file__).resolve().parent / "data" / "corpus"
    articles = [a for a in iter_articles(data) if a.date or a.url]
    if not articles:
        pytest.skip("no test article has a date or url")
    build_from_articles(articles, tmp_path / "index")
    client = create_app({"INDEX_DIR": str(tmp_path / "index"), "TESTING": True}).test_client()
    article = articles[0]
    r = client.get(f"/api/articles/{article.id}")
    body = spec.validate("/api/articles/{article_id}", "get", r)
    assert (body["date"], body["url"]) == (article.date, article.url)
    word = article.paragraphs[0].text[:2]
    r = client.get("/api/search", query_string={"q": word, "size": 100})
    body = spec.validate("/api/search", "get", r)
    assert any(h["date"] == article.date for h in body["hits"])


@pytest.mark.parametrize(
    "url", ["/api/articles/nope", "/api/articles/..%2Fetc", "/api/articles/a%20b"]
)
def test_unknown_article_matches_the_document(client, spec, url):
    r = client.get(url)
    assert_api_error(r, 404)
    spec.validate("/api/articles/{article_id}", "get", r)


def test_healthz_and_readyz_match_the_document(client, spec):
    assert spec.validate("/healthz", "get", client.get("/healthz"))["status"] == "ok"
    assert spec.validate("/readyz", "get", client.get("/readyz"))["status"] == "ready"


def test_missing_index_matches_the_document(tmp_path, spec):
    client = create_app({"INDEX_DIR": str(tmp_path / "none"), "TESTING": True}).test_client()
    health = spec.validate("/healthz", "get", client.get("/healthz"))
    assert health["index"] == "missing"
    for path, url in [("/readyz", "/readyz"), ("/api/search", "/api/search?q=医院"),
                      ("/api/articles/{article_id}", "/api/articles/a-1")]:
        r = client.get(url)
        assert_api_error(r, 503, "index_missing")
        spec.validate(path, "get", r)


def test_metrics_is_documented_as_text(client, spec):
    r = client.get("/metrics")
    assert r.status_code == 200 and r.mimetype == "text/plain"
    assert "text/plain" in spec.node(spec.response_pointer("/metrics", "get", 200))["content"]


@pytest.mark.parametrize(
    ("method", "url", "documented_path"),
    [
        ("post", "/api/search?q=x", "/api/search"),
        ("put", "/api/search", "/api/search"),
        ("delete", "/api/articles/x", "/api/articles/{article_id}"),
        ("post", "/healthz", "/healthz"),
        ("patch", "/api/openapi.json", "/api/openapi.json"),
    ],
)
def test_wrong_method_is_405_in_the_error_shape(client, spec, method, url, documented_path):
    r = client.open(url, method=method.upper())
    assert_api_error(r, 405, "method_not_allowed")
    # The operation that exists on this path documents its other errors as ``default``.
    spec.validate(documented_path, "get", r)


def test_unknown_api_url_is_404_in_the_error_shape(client, spec):
    r = client.get("/api/nothing-here")
    assert_api_error(r, 404, "not_found")
    spec.validator("/components/schemas/Error").validate(r.get_json())


# --- admin ------------------------------------------------------------------------

TOKEN = "openapi-test-token"


def test_admin_off_is_404(client, spec):
    for method in ("get", "post"):
        r = client.open("/api/admin/update", method=method.upper(),
                        headers={"Authorization": f"Bearer {TOKEN}"})
        assert_api_error(r, 404, "not_found")
        spec.validate("/api/admin/update", method, r)


@pytest.fixture
def admin_client(seed_index, tmp_path, monkeypatch):
    """Admin on; the update command is a stand-in that waits for a file, then prints a
    summary line (tests/test_admin.py runs the real one)."""
    script = ("import pathlib, sys, time\n"
              "while not pathlib.Path(sys.argv[1]).exists(): time.sleep(0.02)\n"
              "print('update: 0 added, 0 updated, 0 deleted, 8 unchanged; 0.1 s')")
    go = tmp_path / "go"
    monkeypatch.setattr(admin, "update_command",
                        lambda *_args: [sys.executable, "-c", script, str(go)])
    app = create_app({"INDEX_DIR": str(tmp_path / "index"), "SEEDS_DIR": str(tmp_path),
                      "ADMIN_TOKEN": TOKEN, "TESTING": True})
    return app.test_client()


def test_admin_responses_match_the_document(admin_client, spec, tmp_path):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for method in ("get", "post"):
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            r = admin_client.open("/api/admin/update", method=method.upper(), headers=headers)
            assert_api_error(r, 401, "unauthorized")
            spec.validate("/api/admin/update", method, r)
    idle = spec.validate("/api/admin/update", "get",
                         admin_client.get("/api/admin/update", headers=auth))
    assert idle["state"] == "idle"
    r = admin_client.post("/api/admin/update", headers=auth)
    assert r.status_code == 202
    assert spec.validate("/api/admin/update", "post", r)["started"] is True
    busy = admin_client.post("/api/admin/update", headers=auth)
    assert busy.status_code == 409
    assert spec.validate("/api/admin/update", "post", busy)["update"]["state"] == "running"
    running = spec.validate("/api/admin/update", "get",
                            admin_client.get("/api/admin/update", headers=auth))
    assert running["state"] == "running"
    (tmp_path / "go").touch()  # let the stand-in finish
    deadline = time.monotonic() + 30
    while True:
        r = admin_client.get("/api/admin/update", headers=auth)
        status = spec.validate("/api/admin/update", "get", r)
        if status["state"] != "running" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert status["state"] == "done" and status["summary"].startswith("update:")

"""The official elasticsearch client, unchanged, against the sandbox's log search."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from elasticsearch import AuthenticationException, BadRequestError, Elasticsearch, NotFoundError

from opsagent.sandbox.httpserver import AppServer
from opsagent.sandbox.kube.app import Cluster
from opsagent.sandbox.search.app import SearchCredentials, create_app
from tests.conftest import build


@pytest.fixture(scope="module")
def setup() -> Iterator[tuple[Elasticsearch, SearchCredentials, AppServer, object]]:
    scenario = build("service_target_port", seed=3, target="catalog")
    creds = SearchCredentials()
    server = AppServer(create_app(Cluster(scenario.world), creds), "es").start()
    es = Elasticsearch(server.url, basic_auth=("elastic", creds.password))
    yield es, creds, server, scenario
    es.close()
    server.stop()


@pytest.fixture(scope="module")
def es(setup) -> Elasticsearch:
    return setup[0]


def test_info_and_indices(es):
    assert es.info()["version"]["number"].startswith("9.")
    names = [row["index"] for row in es.cat.indices(index="logs-*", format="json")]
    assert "logs-shop-2026.11.20" in names and any(n.startswith("logs-ingress-nginx-") for n in names)


def test_bool_term_range_sort_and_source(es):
    r = es.search(index="logs-*", size=5, sort=[{"@timestamp": {"order": "desc"}}],
                  source=["@timestamp", "message"], query={"bool": {
                      "filter": [{"term": {"service.name": "frontend"}},
                                 {"terms": {"log.level": ["ERROR", "FATAL"]}},
                                 {"range": {"@timestamp": {"gte": "now-10m", "lte": "now"}}}],
                      "must_not": [{"match_phrase": {"message": "wp-login"}}]}})
    hits = r["hits"]["hits"]
    assert len(hits) == 5 and r["hits"]["total"]["value"] > 5
    stamps = [h["sort"][0] for h in hits]
    assert stamps == sorted(stamps, reverse=True)
    assert set(hits[0]["_source"]) == {"@timestamp", "message"}
    assert all("upstream request failed" in h["_source"]["message"] for h in hits)


def test_full_text_uses_tokens_not_substrings(es):
    exact = es.count(index="logs-*", query={"match": {"message": "refused"}})["count"]
    partial = es.count(index="logs-*", query={"match": {"message": "refus"}})["count"]
    prefix = es.count(index="logs-*", query={"query_string": {"query": "message:refus*"}})["count"]
    assert exact > 0 and partial == 0 and prefix >= exact


def test_match_phrase_and_operator(es):
    phrase = es.count(index="logs-*", query={"match_phrase": {"message": "connection refused"}})["count"]
    reversed_phrase = es.count(index="logs-*", query={"match_phrase": {"message": "refused connection"}})
    both = es.count(index="logs-*", query={"match": {"message": {"query": "connection refused",
                                                                   "operator": "and"}}})["count"]
    assert phrase > 0 and reversed_phrase["count"] == 0 and both >= phrase


def test_query_string_boolean_syntax(es):
    q = 'service.name:frontend AND (log.level:ERROR OR log.level:FATAL) AND NOT message:"wp-login"'
    r = es.search(index="logs-shop-*", query={"query_string": {"query": q}}, size=20)
    assert r["hits"]["hits"]
    assert all(h["_source"]["service.name"] == "frontend" and h["_source"]["log.level"] == "ERROR"
               for h in r["hits"]["hits"])
    via_url = es.search(index="logs-shop-*", q="service.name:cart", size=1)
    assert via_url["hits"]["hits"][0]["_source"]["service.name"] == "cart"


def test_exists_and_paging(setup):
    es, _, _, scenario = setup
    pod = next(p for p in scenario.world.pods.values() if p.service == "cart")
    scenario.world.emit("Pod", "shop", pod.name, "BackOff", "Back-off restarting", "Warning")
    with_pod = es.count(index="logs-*", query={"exists": {"field": "kubernetes.pod.name"}})["count"]
    everything = es.count(index="logs-*")["count"]
    assert 0 < with_pod < everything  # node journal lines have no pod
    first = es.search(index="logs-*", size=3, sort=["@timestamp"])["hits"]["hits"]
    second = es.search(index="logs-*", size=3, from_=3, sort=["@timestamp"])["hits"]["hits"]
    assert {h["_id"] for h in first}.isdisjoint(h["_id"] for h in second)


def test_aggregations(es):
    r = es.search(index="logs-*", size=0, query={"match": {"log.level": "ERROR"}}, aggs={
        "services": {"terms": {"field": "service.name", "size": 3},
                     "aggs": {"latest": {"top_hits": {"size": 1, "sort": [{"@timestamp": "desc"}]}}}},
        "timeline": {"date_histogram": {"field": "@timestamp", "fixed_interval": "5m"}},
    })
    services = r["aggregations"]["services"]["buckets"]
    assert services[0]["key"] == "frontend"
    assert services[0]["latest"]["hits"]["hits"][0]["_source"]["service.name"] == "frontend"
    timeline = r["aggregations"]["timeline"]["buckets"]
    assert len(timeline) >= 3
    assert sum(b["doc_count"] for b in timeline) == r["hits"]["total"]["value"]


def test_errors_have_elasticsearch_shapes(es):
    with pytest.raises(NotFoundError) as exc:
        es.search(index="no-such-index", query={"match_all": {}})
    assert exc.value.error == "index_not_found_exception"
    with pytest.raises(BadRequestError) as exc:
        es.search(index="logs-*", query={"nonsense": {}})
    assert exc.value.error == "parsing_exception"
    with pytest.raises(BadRequestError):
        es.search(index="logs-*", query={"query_string": {"query": "service.name:(frontend"}})
    assert es.search(index="nomatch-*")["hits"]["total"]["value"] == 0


def test_credentials(setup):
    _, creds, server, _ = setup
    with pytest.raises(AuthenticationException):
        Elasticsearch(server.url, basic_auth=("elastic", "wrong")).info()
    assert Elasticsearch(server.url, api_key=creds.api_key).info()["cluster_name"] == "opsagent-sandbox"


def test_new_logs_are_searchable_as_time_runs(setup):
    es, _, _, scenario = setup
    before = es.count(index="logs-*")["count"]
    scenario.advance(60)
    assert es.count(index="logs-*")["count"] > before


def test_absolute_ranges_and_epoch_millis(setup):
    es, _, _, scenario = setup
    end = scenario.world.now
    iso_range = {"range": {"@timestamp": {"gte": "2026-11-20T13:20:00Z", "lt": "2026-11-20T13:25:00Z"}}}
    millis_range = {"range": {"@timestamp": {"gte": 1795180800000, "lt": 1795181100000}}}
    by_iso = es.count(index="logs-*", query=iso_range)["count"]
    assert by_iso > 0
    assert es.count(index="logs-*", query=millis_range)["count"] == by_iso  # the same 5 minutes
    later = es.count(index="logs-*", query={"range": {"@timestamp": {"gt": int(end * 1000) + 60000}}})
    assert later["count"] == 0
    with pytest.raises(BadRequestError) as exc:
        es.search(index="logs-*", query={"range": {"@timestamp": {"gte": "yesterday-ish"}}})
    assert exc.value.error == "parse_exception"

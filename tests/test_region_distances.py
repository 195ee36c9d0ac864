"""Region coordinates (dbt model `int_region_coordinates`) and the great-circle distances the
`region_distances` mart computes from them (the built mart is checked in
tests/test_customers_marts.py)."""

from __future__ import annotations

import re

import duckdb
import numpy as np
import pandas as pd

from tests.conftest import RAW, REPO

MODEL = REPO / "dbt_project" / "models" / "intermediate" / "int_region_coordinates.sql"
EARTH_KM = 6371.0088


def coordinates() -> pd.DataFrame:
    """The model's rows: its SQL (no ref, no macro) run by DuckDB without its Jinja comment."""
    sql = re.sub(r"\{#-.*?-#\}", "", MODEL.read_text(), flags=re.S)
    assert "{{" not in sql and "{%" not in sql
    return duckdb.sql(sql).df()


def haversine_km(lat1, lon1, lat2, lon2) -> float:
    p1, p2, dl = np.radians(lat1), np.radians(lat2), np.radians(lon2 - lon1)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return float(2 * EARTH_KM * np.arcsin(np.sqrt(a)))


def test_the_coordinates_place_every_online_retail_country_they_can():
    coords = coordinates()
    assert list(coords.columns) == ["region", "latitude", "longitude"]
    assert coords["region"].is_unique and coords.notna().all().all()
    assert coords["latitude"].between(-90, 90).all() and coords["longitude"].between(-180, 180).all()
    countries = set(pd.read_parquet(RAW / "online_retail" / "online_retail.parquet", columns=["Country"])["Country"])
    assert len(countries) == 38
    # two keys name no place: they get no coordinates (null distances), not a guess
    assert countries - set(coords["region"]) == {"Unspecified", "European Community"}


def test_centroids_are_where_the_countries_are():
    at = coordinates().set_index("region")

    def km(a: str, b: str) -> float:
        return haversine_km(at.loc[a, "latitude"], at.loc[a, "longitude"], at.loc[b, "latitude"], at.loc[b, "longitude"])

    # centroid to centroid, from atlases: a few hundred km between neighbours, antipodes far
    assert 150 < km("Belgium", "Netherlands") < 250
    assert 700 < km("United Kingdom", "France") < 1000
    assert 15_000 < km("United Kingdom", "Australia") < 16_500
    assert 330 < km("United Kingdom", "EIRE") < 470
    assert 2_300 < km("Hong Kong", "Singapore") < 2_900
    # the formula itself, on pairs whose central angle is known without it: a quarter of the
    # equator, a quarter of a meridian, and (0, 0) to (45 N, 45 E): cos c = cos 45 * cos 45, c = 60 degrees
    assert abs(haversine_km(0, 0, 0, 90) - EARTH_KM * np.pi / 2) < 1e-6
    assert abs(haversine_km(0, 0, 90, 0) - EARTH_KM * np.pi / 2) < 1e-6
    assert abs(haversine_km(0, 0, 45, 45) - EARTH_KM * np.pi / 3) < 1e-6

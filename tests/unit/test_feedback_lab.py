"""FeedbackLab (widgets/feedback): the Python API, its errors (exception and banner), the page's
controls, the linked views, the runs table and the Embedding Projector export. Synthetic ratings
keep it quick; the loop's claims on MovieLens are in test_feedback_model.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lab8widgets.widgets.feedback import FeedbackLab


@pytest.fixture(scope="module")
def lab():
    lab = FeedbackLab("synthetic", group_size=10, activity=20, n_users=200, epochs=1)
    lab.run(rounds=3)
    return lab


def test_unknown_keyword_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="'rounds_per_day'"):
        FeedbackLab("synthetic", rounds_per_day=3)


def test_bad_values_name_field_value_and_range():
    with pytest.raises(ValueError, match=r"epsilon must be a number in \[0, 1\], got 2"):
        FeedbackLab("synthetic", epsilon=2)
    with pytest.raises(ValueError, match="seed must be an integer from 0 to 99,999, got -1"):
        FeedbackLab("synthetic", seed=-1)
    with pytest.raises(ValueError, match="group_genre must be one of the catalogue's genres"):
        FeedbackLab("synthetic", group_genre="Anime")


def test_api_errors_show_in_the_banner_and_keep_the_last_good_state(lab):
    before = lab.settings
    with pytest.raises(ValueError, match="cap must be an integer from 1 to 1000, got -1"):
        lab.configure(cap=-1)
    assert "cap must be an integer from 1 to 1000" in lab.error
    assert lab.settings == before
    with pytest.raises(ValueError, match="rounds must be an integer from 1 to 100, got 0"):
        lab.run(rounds=0)
    assert "rounds must be" in lab.error
    assert len(lab.runs) >= 1


def test_run_fills_history_runs_and_the_rounds_views(lab):
    h = lab.history
    assert [r["round"] for r in h] == [0, 1, 2, 3]
    assert {"round", "group_share", "coverage", "gini"} <= set(h[0])
    rec = lab.runs[0]
    assert rec.status == "done" and rec["rounds"] == 3
    assert rec["group_share"] == h[-1]["group_share"]
    assert rec["rise"] == pytest.approx(
        np.mean([r["group_share"] for r in h[1:]]) - h[0]["group_share"]
    )
    # the group's part of each round's new ratings (ratings missing not at random, few by others)
    assert rec["group_part"] == pytest.approx(np.mean([r["group_part"] for r in h[1:]]))
    assert 0 < rec["group_part"] < 1
    assert "group part of new ratings" in lab.runs_html.value
    share = lab.rounds_panel.views["group_share"]
    assert share.all_keys == [0, 1, 2, 3]
    assert list(share.y) == [r["group_share"] for r in h]
    assert f"{h[-1]['group_share']:.1%}" in lab.runs_html.value
    # exposure per round is what the metrics were computed from
    ex = lab.exposure
    assert ex.shape == (4, lab.truth.n_items)
    top = np.sort(ex[-1])[::-1]
    g = (2 * (np.arange(1, len(top) + 1) * top[::-1]).sum()) / (len(top) * top.sum()) - (
        len(top) + 1
    ) / len(top)
    assert h[-1]["gini"] == pytest.approx(g)


def test_brushing_rounds_shows_their_exposure_and_selects_them_everywhere(lab):
    lab.rounds_panel.views["coverage"].selected = [1, 2]  # a brush in the coverage view
    assert lab.selected_rounds == [1, 2]
    assert lab.rounds_panel.views["gini"].selected == [1, 2]
    assert list(lab.items_panel.scatter.y) == lab.exposure[[1, 2]].sum(axis=0).tolist()
    assert "rounds 1, 2" in lab.items_panel.caption.value
    lab.selected_rounds = []
    assert list(lab.items_panel.scatter.y) == lab.exposure.sum(axis=0).tolist()


def test_brushing_films_selects_them_in_the_table_and_draws_their_share(lab):
    titles = lab.truth.titles[:5]
    lab.items_panel.scatter.selected = titles
    assert lab.selected_items == titles
    assert sorted(lab.items_panel.table.selected) == sorted(titles)
    ex = lab.exposure
    want = ex[:, :5].sum(axis=1) / ex.sum(axis=1)
    assert np.allclose(lab.rounds_panel.highlight_line.y, want)
    lab.selected_items = []
    assert len(lab.rounds_panel.highlight_line.y) == 0


def test_page_controls_change_the_settings_and_refuse_bad_text(lab):
    lab.form.controls["epsilon"].value = "0.2"  # a typed number field
    assert lab.settings.epsilon == pytest.approx(0.2)
    lab.form.controls["k"].value = "5"
    assert lab.settings.k == 5
    lab.form.controls["others_watch"].value = "0"  # ordinary users silent: the group takes over
    assert lab.settings.others_watch == 0.0
    lab.form.controls["choosiness"].value = "-1"
    assert "choosiness must be" in lab.error and lab.settings.choosiness == 0.3
    lab.form.controls["cap"].value = "0"
    assert "cap must be an integer from 1 to 1000, got 0" in lab.error
    assert lab.settings.cap is None  # the last good value stays
    lab.genre_box.value = lab.truth.all_genres()[0]
    assert lab.settings.group_genre == lab.truth.all_genres()[0]
    lab.configure(epsilon=0.0, k=10, others_watch=0.25, group_genre=lab.truth.all_genres()[-1])
    assert lab.settings.epsilon == 0.0 and lab.settings.k == 10
    assert lab.form.controls["k"].value == "10"


def test_run_button_streams_rounds_and_stop_ends_the_run():
    lab = FeedbackLab("synthetic", group_size=5, activity=10, n_users=100, epochs=1)
    lab.rounds_box.value = 2
    lab.run_button.click()
    assert lab.wait(120)
    assert lab.round_count == 3 and len(lab.runs) == 1 and lab.runs[0].status == "done"
    lab.run(rounds=100, wait=False)
    lab.stop()
    assert lab.wait(120)
    assert lab.runs[-1].status == "stopped" and lab.runs[-1]["rounds"] < 100


def test_a_run_with_another_genre_recolours_the_films():
    lab = FeedbackLab("synthetic", group_size=5, activity=10, n_users=100, epochs=1)
    genre = lab.truth.all_genres()[0]
    lab.run(rounds=1, group_genre=genre)
    assert lab.runs[-1]["group_genre"] == genre
    table = lab.items_panel.table.frame.set_index("title")
    in_genre = lab.truth.in_genre(genre)
    assert [table.at[t, "genre"] == genre for t in lab.truth.titles] == in_genre.tolist()


def test_compare_runs_each_intervention_against_the_plain_loop():
    lab = FeedbackLab("synthetic", group_size=10, activity=20, n_users=150, epochs=1)
    runs = lab.compare(rounds=2)
    assert [r.label for r in runs] == ["none", "cap 10", "equal weight", "ε 0.1"]
    rows = lab.runs_table()
    assert rows[0]["vs_none"] is None
    for row in rows[1:]:
        assert row["vs_none"] == pytest.approx(row["rise"] - rows[0]["rise"])
    assert rows[3]["coverage"] > rows[0]["coverage"]  # exploration shows more of the catalogue
    for label in ("cap 10", "equal weight", "ε 0.1"):
        assert label in lab.runs_html.value
    assert len(lab.rounds_panel.lines) == 4 * 3  # every run's three curves stay on the charts


def test_export_projector_writes_the_film_factors_in_order(lab, tmp_path):
    vec_path, meta_path = lab.export_projector(tmp_path, "films")
    assert (vec_path.name, meta_path.name) == ("films_vectors.tsv", "films_metadata.tsv")
    vectors = np.loadtxt(vec_path, delimiter="\t")
    want = lab.model.movie_factors.detach().numpy()
    assert vectors.shape == want.shape == (lab.truth.n_items, lab.settings.n_factors)
    assert np.allclose(vectors, want, atol=1e-5)
    lines = meta_path.read_text().splitlines()
    assert lines[0].split("\t") == ["title", "genres", "true_mean", "exposure"]
    assert [ln.split("\t")[0] for ln in lines[1:]] == lab.truth.titles
    assert [int(ln.split("\t")[3]) for ln in lines[1:]] == lab.exposure.sum(axis=0).tolist()
    lab.projector.button.click()
    assert "feedback_films_vectors.tsv" in lab.projector.links.value
    assert "feedback_films_metadata.tsv" in lab.projector.links.value


def test_the_model_is_the_live_recommender(lab):
    assert isinstance(lab.model, torch.nn.Module)
    assert lab.model.user_factors.shape[0] == 200 + 10  # the users and the group

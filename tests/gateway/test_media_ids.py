"""MediaIds in documents, found where media go and replaced by their URLs (pure)."""

from __future__ import annotations

from gateway.media_ids import media_ids, substitute

A, B, GONE = "a" * 32, "b" * 32, "c" * 32


def test_ids_are_found_where_media_go_and_only_there() -> None:
    doc = {
        "MediaGroupArray": [{"GroupName": A, "MediaArray": [A, "file:///m/x.mp4"]}],
        "TitleArray": [B],  # a title that looks like an id is a title
        "Sticker": {"MediaId": B, "X": 0.1},
        "BackgroundMusicArray": [GONE],
        "SpeechTextArray": ["hello", A],
    }
    assert media_ids(doc) == {A, B, GONE}
    urls = {A: "file:///m/a.mp4", B: "file:///m/logo.png"}
    bad = substitute(doc, urls, "InputConfig")
    assert [v.field for v in bad] == ["InputConfig.BackgroundMusicArray[0]"] and "RegisterMediaInfo" in bad[
        0
    ].description
    assert doc["MediaGroupArray"] == [{"GroupName": A, "MediaArray": ["file:///m/a.mp4", "file:///m/x.mp4"]}]
    assert doc["Sticker"] == {"X": 0.1, "MediaURL": "file:///m/logo.png"}  # MediaId became MediaURL
    assert doc["TitleArray"] == [B] and doc["SpeechTextArray"] == ["hello", "file:///m/a.mp4"]


def test_media_meta_data_names_media_by_id_too() -> None:
    doc = {"MediaConfig": {"MediaMetaDataArray": [{"Media": A, "GroupName": "g"}]}}
    assert substitute(doc, {A: "file:///m/a.mp4"}, "EditingConfig") == []
    assert doc["MediaConfig"]["MediaMetaDataArray"][0]["Media"] == "file:///m/a.mp4"

from __future__ import annotations

import numpy as np
import pytest
import torch

from alprd.model.charset import encode
from pipelines.datasets import (CcpdDataset, CropDataset, SynthDetectionDataset, ctc_collate, detection_collate,
                                random_crop)


def test_synth_detection_items_are_reproducible(synth_assets):
    a = SynthDetectionDataset(length=8, seed=5)
    b = SynthDetectionDataset(length=8, seed=5)
    for i in (0, 3):
        x, y = a[i], b[i]
        assert torch.equal(x["image"], y["image"]) and torch.equal(x["corners"], y["corners"])
        assert x["texts"] == y["texts"]
    x = a[3]
    assert x["image"].shape == (3, 512, 512) and x["image"].dtype == torch.float32
    assert -1.0 <= x["image"].min() and x["image"].max() <= 1.0
    assert x["corners"].shape == (len(x["texts"]), 4, 2)
    assert (x["corners"] >= 0).all() and (x["corners"] <= 512).all()
    a.set_epoch(1)
    assert not torch.equal(a[3]["image"], x["image"])
    with pytest.raises(IndexError):
        a[8]
    batch = detection_collate([b[0], b[1]])
    assert batch["images"].shape == (2, 3, 512, 512) and len(batch["corners"]) == 2


def test_every_recipe_and_uint8_output(synth_assets):
    for recipe in ("ccpd_swap", "background", "parking"):
        ds = SynthDetectionDataset(length=2, seed=1, recipes={recipe: 1.0}, normalize=False)
        item = ds[0]
        assert item["recipe"] == recipe and item["image"].dtype == torch.uint8
        assert len(item["texts"]) >= 1
        for t in item["texts"]:
            encode(t)


def test_ccpd_dataset_maps_labels_through_the_letterbox(shared_data):
    ds = CcpdDataset("dev")
    item = ds[0]
    corners = ds.samples[0].label.corners
    s = 512 / 1160
    pad_x = (512 - round(720 * s)) // 2
    np.testing.assert_allclose(item["corners"][0].numpy(), corners * s + [pad_x, 0], atol=1e-3)
    assert item["texts"] == [ds.samples[0].label.text]
    aug = CcpdDataset("dev", augment=True, seed=2)
    assert torch.equal(aug[1]["image"], CcpdDataset("dev", augment=True, seed=2)[1]["image"])
    with pytest.raises(ValueError, match="holdout"):
        CcpdDataset("holdout", augment=True)


def test_random_crop_keeps_plates():
    img = np.zeros((1160, 720, 3), np.uint8)
    c = np.array([[[300, 500], [420, 505], [420, 545], [300, 540]]], np.float32)
    for seed in range(20):
        out, oc = random_crop(img, c, np.random.default_rng(seed))
        h, w = out.shape[:2]
        assert (oc >= 0).all() and (oc[..., 0] <= w).all() and (oc[..., 1] <= h).all()


def test_crop_dataset(synth_assets):
    ds = CropDataset(n_synth=3, seed=9)
    assert len(ds) > 3 + 1500
    for i in (0, 1, 3, len(ds) - 1):
        it = ds[i]
        assert it["image"].shape == (3, 48, 144) and it["image"].dtype == torch.float32
        assert it["label"].tolist() == encode(it["text"])
        assert it["source"] == ("synth" if i < 3 else it["source"])
    assert ds[3]["source"] in ("crop", "ccpd") and ds[len(ds) - 1]["source"] == "ccpd"
    assert torch.equal(ds[1]["image"], CropDataset(n_synth=3, seed=9, real_crops=False, ccpd_plates=False)[1]["image"])
    batch = ctc_collate([ds[0], ds[1], ds[4]])
    assert batch["images"].shape == (3, 3, 48, 144)
    assert batch["target_lengths"].sum() == len(batch["targets"])
    assert batch["texts"][0] == ds[0]["text"]


def test_low_res_shrinks_the_plate_and_keeps_its_corners_on_it():
    from pipelines.datasets import LOW_RES_WIDTH, low_res

    img = np.zeros((400, 600, 3), np.uint8)
    corners = np.array([[150, 180], [450, 180], [450, 280], [150, 280]], np.float32)   # 300 px wide
    img[180:280, 150:450] = 255
    for seed in range(5):
        small, c = low_res(img, corners, np.random.default_rng(seed))
        width = c[1, 0] - c[0, 0]
        assert LOW_RES_WIDTH[0] - 1 <= width <= LOW_RES_WIDTH[1] + 1
        assert small.shape[1] < img.shape[1] and small.shape[0] < img.shape[0]   # only the neighbourhood
        x0, y0 = np.round(c[0] + 2).astype(int)
        x1, y1 = np.round(c[2] - 2).astype(int)
        assert small[y0:y1, x0:x1].min() > 200 and small[:max(1, y0 - 4)].max() < 50   # corners still on the plate
    narrow = corners * np.array([0.1, 1], np.float32) + np.array([100, 0], np.float32)   # 30 px: never enlarged
    same, c = low_res(img, narrow, np.random.default_rng(0))
    assert same is img and np.array_equal(c, narrow)


def test_box_corners_is_the_upright_box_around_a_tilted_plate():
    from pipelines.datasets import box_corners

    quad = np.array([[100, 60], [300, 100], [290, 150], [90, 110]], np.float32)
    assert np.array_equal(box_corners(quad), np.array([[90, 60], [300, 60], [300, 150], [90, 150]], np.float32))


def test_boxed_synthetic_crops_are_seeded_and_leave_the_default_mixture_alone(synth_assets):
    from pipelines.datasets import synth_crop
    plain = [synth_crop(np.random.default_rng([3, i])) for i in range(6)]
    again = [synth_crop(np.random.default_rng([3, i]), box_p=0.0) for i in range(6)]
    boxed = [synth_crop(np.random.default_rng([3, i]), box_p=1.0) for i in range(6)]
    assert all(np.array_equal(a[0], b[0]) and a[1] == b[1] for a, b in zip(plain, again))
    assert all(b[1] == p[1] and b[0].shape == (48, 144, 3) for b, p in zip(boxed, plain))  # same plate drawn
    assert not any(np.array_equal(b[0], p[0]) for b, p in zip(boxed, plain))
    twice = synth_crop(np.random.default_rng([3, 0]), box_p=1.0)
    assert np.array_equal(twice[0], boxed[0][0])
    ds = CropDataset(n_synth=4, seed=1, real_crops=False, ccpd_plates=False, synth_box_p=1.0)
    assert torch.equal(ds[2]["image"], CropDataset(n_synth=4, seed=1, real_crops=False, ccpd_plates=False,
                                                   synth_box_p=1.0)[2]["image"])

"""Where the parts of the face lie in the canonical aligned crop.

`FaceAligner` maps every face onto one canonical layout, so a region is a fixed set of pixels
of the crop: the spotter measures motion per region and the synthetic-data checks measure how
much of a dynamic image falls inside the region of its action units, without landmarks.

`CANONICAL_LANDMARKS` is that layout: the mean frontal MediaPipe face mesh (468 points),
measured with MediaPipe 0.10.21 (static mode) on 30 frontal photos of 15 people (Yale Face
Database A, normal and no-glasses), the scikit-image astronaut and one frame of each of two
talking-face videos; generalised Procrustes (similarity) over all 468 points, rotated so that
the eyes are level, then made exactly left-right symmetric by averaging with its mirror image
(the mesh's own left/right point pairing, 220 pairs and 28 midline points). It is placed so
that the whole face fits: mesh top (forehead, point 10) at 8 % of the crop side, chin (152) at
88 % (room below for a dropping jaw), cheeks (234/454) at 16 % and 84 %.

"left" and "right" are the subject's own, as in MediaPipe's FACEMESH_LEFT_EYE (the subject's
left eye appears on the right of an unmirrored photo).
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from realtime.core.errors import InputError

# fmt: off
# (468, 2) x, y in 1/10000 of the crop side; see the module docstring for how it was measured.
_CANONICAL_1E4 = (
    5000,6307, 5000,5266, 5000,5596, 4753,4188, 5000,4930, 5000,4492, 5000,3456, 2927,3418,
    5000,2740, 5000,2322, 5000, 800, 5000,6458, 5000,6561, 5000,6594, 5000,6684, 5000,6797,
    5000,6946, 5000,7117, 5000,7439, 5000,5437, 4733,5411, 1834,2315, 3766,3684, 3472,3711,
    3191,3700, 2821,3546, 4013,3601, 3380,2956, 3684,2963, 3099,3007, 2908,3109, 2575,3759,
    3903,7983, 2826,3350, 1697,3665, 2238,3570, 3547,4989, 4640,6257, 4691,6553, 4274,6344,
    4038,6463, 4425,6567, 4214,6594, 3681,6930, 4755,5258, 4719,4935, 2424,2803, 4136,4188,
    4086,5163, 4072,4989, 2665,4964, 4736,4529, 3121,2455, 2711,2573, 2119,1737, 4404,2677,
    3955,3046, 3451,6644, 1993,6634, 4296,5341, 4538,5442, 3774,6641, 3900,6623, 2537,2370,
    4077,5299, 3677,2465, 3615,2200, 3307, 969, 2333,2035, 3487,1553, 2240,2670, 2035,2504,
    4660,6436, 4361,6485, 4129,6535, 4371,5396, 3841,6634, 3967,6686, 3930,6610, 4450,5246,
    4267,6572, 4480,6572, 4726,6584, 4618,7434, 4647,7095, 4664,6915, 4683,6770, 4707,6675,
    4224,6646, 4185,6677, 4129,6751, 4075,6855, 3783,6121, 1691,5086, 5000,5502, 4085,6641,
    4031,6651, 4637,5588, 4181,5491, 4590,5518, 3830,4378, 3350,4591, 4025,5128, 2584,1275,
    2791,1704, 3007,2197, 3923,7127, 4303,2258, 4198,1526, 4086, 829, 2954,3650, 2254,3993,
    4170,3516, 2570,3195, 4339,3976, 4264,5051, 1939,4223, 2461,4201, 2844,4305, 3404,4248,
    3817,4113, 4124,3958, 4723,3543, 1985,4881, 2314,3155, 4853,5421, 4164,4500, 1620,3674,
    4350,3781, 4001,5149, 2736,3386, 4256,4840, 1781,5850, 4165,3396, 4489,4649, 2622,7319,
    2644,7698, 1700,5000, 2256,6910, 1858,3036, 3833,8317, 4885,5489, 3903,4737, 1982,3641,
    3214,3506, 3468,3531, 3899,6747, 2039,5519, 4377,8750, 3481,8362, 3091,8093, 5000,1543,
    5000,8800, 3715,3511, 3947,3459, 4094,3428, 2095,3101, 3911,3186, 3659,3111, 3407,3097,
    3154,3151, 2995,3235, 1678,2920, 3044,3463, 5000,5819, 4048,5938, 4289,5295, 4602,5843,
    5000,3091, 3023,7718, 3413,8024, 4361,8519, 2296,7252, 4088,3307, 4532,4053, 5000,8558,
    3895,8590, 1794,5699, 4443,6656, 4404,6723, 4366,6835, 4331,6995, 4231,7304, 4025,6612,
    3942,6592, 3858,6550, 3559,6361, 2429,5661, 4537,3739, 4396,3178, 4215,3235, 4085,6574,
    2390,6435, 4637,3150, 4059,7641, 5000,4135, 4731,3879, 5000,3805, 4339,4561, 5000,8215,
    5000,7800, 4516,7793, 3386,7083, 3761,5406, 3695,7408, 3076,5362, 3482,5721, 2822,5880,
    4409,8191, 4169,4745, 3125,7342, 3512,7684, 3144,6700, 2115,6064, 2766,6763, 1952,6338,
    3242,6134, 4354,4273, 4356,5195, 4170,5270, 4475,4980, 4167,2940, 3694,2798, 3286,2779,
    2944,2832, 2701,2964, 2518,3476, 1656,4324, 2741,3884, 3040,3964, 3428,3958, 3799,3882,
    4086,3771, 4282,3661, 1654,4378, 4181,5349, 4532,4342, 4554,5211, 4716,5365, 4559,5262,
    4266,5442, 4765,5397, 4794,5463, 4270,3418, 4436,3487, 4521,3531, 2901,3297, 2755,3219,
    5247,4188, 7073,3418, 5267,5411, 8166,2315, 6234,3684, 6528,3711, 6809,3700, 7179,3546,
    5987,3601, 6620,2956, 6316,2963, 6901,3007, 7092,3109, 7425,3759, 6097,7983, 7174,3350,
    8303,3665, 7762,3570, 6453,4989, 5360,6257, 5309,6553, 5726,6344, 5962,6463, 5575,6567,
    5786,6594, 6319,6930, 5245,5258, 5281,4935, 7576,2803, 5864,4188, 5914,5163, 5928,4989,
    7335,4964, 5264,4529, 6879,2455, 7289,2573, 7881,1737, 5596,2677, 6045,3046, 6549,6644,
    8007,6634, 5704,5341, 5462,5442, 6226,6641, 6100,6623, 7463,2370, 5923,5299, 6323,2465,
    6385,2200, 6693, 969, 7667,2035, 6513,1553, 7760,2670, 7965,2504, 5340,6436, 5639,6485,
    5871,6535, 5629,5396, 6159,6634, 6033,6686, 6070,6610, 5550,5246, 5733,6572, 5520,6572,
    5274,6584, 5382,7434, 5353,7095, 5336,6915, 5317,6770, 5293,6675, 5776,6646, 5815,6677,
    5871,6751, 5925,6855, 6217,6121, 8309,5086, 5915,6641, 5969,6651, 5363,5588, 5819,5491,
    5410,5518, 6170,4378, 6650,4591, 5975,5128, 7416,1275, 7209,1704, 6993,2197, 6077,7127,
    5697,2258, 5802,1526, 5914, 829, 7046,3650, 7746,3993, 5830,3516, 7430,3195, 5661,3976,
    5736,5051, 8061,4223, 7539,4201, 7156,4305, 6596,4248, 6183,4113, 5876,3958, 5277,3543,
    8015,4881, 7686,3155, 5147,5421, 5836,4500, 8380,3674, 5650,3781, 5999,5149, 7264,3386,
    5744,4840, 8219,5850, 5835,3396, 5511,4649, 7378,7319, 7356,7698, 8300,5000, 7744,6910,
    8142,3036, 6167,8317, 5115,5489, 6097,4737, 8018,3641, 6786,3506, 6532,3531, 6101,6747,
    7961,5519, 5623,8750, 6519,8362, 6909,8093, 6285,3511, 6053,3459, 5906,3428, 7905,3101,
    6089,3186, 6341,3111, 6593,3097, 6846,3151, 7005,3235, 8322,2920, 6956,3463, 5952,5938,
    5711,5295, 5398,5843, 6977,7718, 6587,8024, 5639,8519, 7704,7252, 5912,3307, 5468,4053,
    6105,8590, 8206,5699, 5557,6656, 5596,6723, 5634,6835, 5669,6995, 5769,7304, 5975,6612,
    6058,6592, 6142,6550, 6441,6361, 7571,5661, 5463,3739, 5604,3178, 5785,3235, 5915,6574,
    7610,6435, 5363,3150, 5941,7641, 5269,3879, 5661,4561, 5484,7793, 6614,7083, 6239,5406,
    6305,7408, 6924,5362, 6518,5721, 7178,5880, 5591,8191, 5831,4745, 6875,7342, 6488,7684,
    6856,6700, 7885,6064, 7234,6763, 8048,6338, 6758,6134, 5646,4273, 5644,5195, 5830,5270,
    5525,4980, 5833,2940, 6306,2798, 6714,2779, 7056,2832, 7299,2964, 7482,3476, 8344,4324,
    7259,3884, 6960,3964, 6572,3958, 6201,3882, 5914,3771, 5718,3661, 8346,4378, 5819,5349,
    5468,4342, 5446,5211, 5284,5365, 5441,5262, 5734,5442, 5235,5397, 5206,5463, 5730,3418,
    5564,3487, 5479,3531, 7099,3297, 7245,3219,
)
# fmt: on

CANONICAL_LANDMARKS = np.array(_CANONICAL_1E4, dtype=np.float32).reshape(468, 2) / 10000.0
"""(468, 2) float32 landmark positions in the canonical crop, in units of the crop side."""
CANONICAL_LANDMARKS.setflags(write=False)

REGIONS: dict[str, tuple[int, ...]] = {
    "brow_left": (276, 283, 282, 295, 285, 300, 293, 334, 296, 336),
    "brow_right": (46, 53, 52, 65, 55, 70, 63, 105, 66, 107),
    "eye_left": (
        362, 398, 384, 385, 386, 387, 388, 466, 263, 249, 390, 373, 374, 380, 381, 382, 463, 414, 286,
        258, 257, 259, 260, 467, 359, 255, 339, 254, 253, 252, 256, 341, 342, 446, 261, 448, 449, 450,
        451, 452, 453, 464
    ),
    "eye_right": (
        133, 173, 157, 158, 159, 160, 161, 246, 33, 7, 163, 144, 145, 153, 154, 155, 243, 190, 56, 28,
        27, 29, 30, 247, 130, 25, 110, 24, 23, 22, 26, 112, 113, 226, 31, 228, 229, 230, 231, 232, 233,
        244
    ),
    "nose": (
        168, 193, 417, 122, 351, 196, 419, 3, 248, 51, 281, 45, 275, 220, 440, 115, 344, 48, 278, 64,
        294, 98, 327, 2, 97, 326, 129, 358, 6, 197, 195, 5, 4, 1, 19, 94
    ),
    "nose_bridge": (168, 6, 197, 195, 193, 417, 122, 351, 196, 419, 3, 248),
    "mouth": (
        164, 393, 391, 322, 410, 287, 273, 335, 406, 313, 18, 83, 182, 106, 43, 57, 186, 92, 165, 167,
        0, 37, 39, 40, 185, 61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267
    ),
    "cheek_left": (
        349, 348, 347, 346, 340, 345, 352, 376, 411, 427, 436, 426, 266, 329, 330, 280, 425, 371
    ),
    "cheek_right": (
        120, 119, 118, 117, 111, 116, 123, 147, 187, 207, 216, 206, 36, 100, 101, 50, 205, 142
    ),
    "chin": (
        83, 18, 313, 406, 424, 418, 421, 428, 396, 377, 152, 148, 171, 208, 201, 194, 204, 182, 200,
        199, 175
    ),
    "forehead": (10, 338, 297, 332, 109, 67, 103, 151, 108, 69, 104, 337, 299, 333),
}
"""MediaPipe 468-mesh landmark indices of each region; a region's pixels are the convex hull of
its points in the canonical crop, widened by `REGION_MARGIN`. Regions may overlap (the mouth
ring and the chin share the points under the lower lip). `nose_bridge` and `forehead` are the
parts that expressions barely move: references for residual head motion."""

FACE_OVAL: tuple[int, ...] = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)
"""MediaPipe's FACEMESH_FACE_OVAL points, in order around the face."""

REGION_MARGIN = 0.02
"""Widening of each region mask, as a fraction of the crop side (4.5 px at 224): an action
unit's motion shows at the moving edges, which sit on or just outside the landmark hull."""


def region_masks(size: int) -> dict[str, np.ndarray]:
    """Boolean (size, size) mask of every region in `REGIONS`, in the canonical aligned crop.

    The arrays are cached per size and read-only; copy one before changing it.
    """
    return dict(_region_masks(_check_size(size)))


def face_region_masks(landmarks: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """Boolean (size, size) masks of `REGIONS` around one face's own (468, 2) crop-px landmarks.

    `region_masks` fits the canonical face; faces differ (a long jaw, a broad smile, a nodding
    head put the mouth up to ~15 px away at 224), so use this where the region must follow the
    face actually seen, e.g. `AlignedFace.landmarks` of a reference frame.
    """
    size = _check_size(size)
    points = np.asarray(landmarks, np.float32)
    if points.shape != CANONICAL_LANDMARKS.shape:
        raise InputError(f"expected (468, 2) landmarks, got shape {points.shape}")
    return {name: _hull_mask(points[list(indices)], size, REGION_MARGIN) for name, indices in REGIONS.items()}


def face_mask(size: int) -> np.ndarray:
    """Boolean (size, size) mask of the face inside its oval (forehead to chin), read-only."""
    return _face_mask(_check_size(size))


def _check_size(size: int) -> int:
    if int(size) != size or size < 16:
        raise InputError(f"crop size must be an integer of at least 16 px, got {size!r}")
    return int(size)


def _hull_mask(points: np.ndarray, size: int, margin: float) -> np.ndarray:
    """Convex hull of (N, 2) crop-px points, widened by `margin` crop sides; read-only bool."""
    mask = np.zeros((size, size), np.uint8)
    hull = cv2.convexHull(np.round(points).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1)
    radius = round(margin * size)
    if radius > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        mask = cv2.dilate(mask, kernel)
    out = mask.astype(bool)
    out.setflags(write=False)
    return out


@lru_cache(maxsize=8)
def _region_masks(size: int) -> tuple[tuple[str, np.ndarray], ...]:
    canonical = CANONICAL_LANDMARKS * size  # (468, 2) crop px
    return tuple((name, _hull_mask(canonical[list(indices)], size, REGION_MARGIN))
                 for name, indices in REGIONS.items())


@lru_cache(maxsize=8)
def _face_mask(size: int) -> np.ndarray:
    return _hull_mask(CANONICAL_LANDMARKS[list(FACE_OVAL)] * size, size, 0.0)

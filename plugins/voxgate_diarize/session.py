"""One request's diarization: speech regions, a speaker embedding per window, clustering.

Memory stays bounded for any length: the audio passes through in blocks of ``block_seconds``
(the block being read and the speech that runs on past its end), and what is kept per
window is its time span and 256 floats (an hour: about 5 MB). Clustering runs once at the
end; past ``_MAX_LINKAGE`` windows it clusters an even sample and assigns the rest to the
nearest centroid, so its matrix never grows with the audio either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from voxgate import DiarizationSession, SpeakerTurn

if TYPE_CHECKING:
    from collections.abc import Callable

    from numpy.typing import NDArray

    from voxgate_diarize.ge2e import Ge2eEncoder

_FULL_WINDOW_SECONDS = 1.0  # windows at least this long decide who the speakers are
_MIN_TO_CLUSTER = 2
_JOIN_GAP = 0.5  # seconds: one speaker's turns this close are one turn
_MAX_LINKAGE = 1500  # windows clustered directly; beyond, a sample is (memory ~ n^2)


@dataclass(frozen=True)
class Settings:
    """The tunables of one session (the instance's config, in samples where it matters)."""

    sample_rate: int
    window: int  # samples per embedding window
    hop: int  # samples between window starts within a speech region
    min_region: int  # speech shorter than this is not embedded
    block: int  # samples processed at once
    threshold: float  # cosine distance under which clusters merge
    min_speaker_seconds: float  # a cluster with less speech joins its nearest neighbour
    known_similarity: float  # a cluster takes a known name at this cosine similarity or more
    max_speakers: int | None


class Ge2eSession(DiarizationSession):
    """Embeds speech windows as the audio is fed; clusters them in ``finish``."""

    def __init__(
        self,
        encoder: Ge2eEncoder,
        speech: Callable[[NDArray[np.float32]], list[tuple[int, int]]],
        settings: Settings,
        known: list[tuple[str, NDArray[np.float32]]],
    ) -> None:
        self._encoder = encoder
        self._speech = speech
        self._s = settings
        self._known = known
        self._pending: list[NDArray[np.float32]] = []
        self._pending_len = 0
        self._offset = 0  # samples of the upload before the pending ones
        self._spans: list[tuple[float, float]] = []
        self._embeddings: list[NDArray[np.float32]] = []

    def feed(self, samples: NDArray[np.float32]) -> None:
        """Buffer ``samples``; embed every full block."""
        self._pending.append(np.asarray(samples, dtype=np.float32))
        self._pending_len += len(samples)
        while self._pending_len >= self._s.block:
            self._process(final=False)

    def finish(self) -> list[SpeakerTurn]:
        """Embed what is left, cluster, and return the turns in time order."""
        while self._pending_len:
            self._process(final=True)
        if not self._embeddings:
            return []
        labels = self._cluster(np.stack(self._embeddings))
        return _turns(self._spans, labels)

    # -- embedding -----------------------------------------------------------------------------

    def _process(self, *, final: bool) -> None:
        buffered = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
        block = buffered if final else buffered[: self._s.block]
        regions = self._speech(block)
        keep_from = len(block)
        if not final and regions and len(block) - regions[-1][1] < self._s.sample_rate // 10:
            # speech runs on past the block: embed that region with the next block
            start = regions[-1][0]
            if start > 0:
                regions = regions[:-1]
                keep_from = start
        self._embed_regions(block, regions)
        rest = buffered[keep_from:]
        self._offset += keep_from
        self._pending = [rest] if len(rest) else []
        self._pending_len = len(rest)

    def _embed_regions(self, block: NDArray[np.float32], regions: list[tuple[int, int]]) -> None:
        s = self._s
        clips: list[NDArray[np.float32]] = []
        for start, end in regions:
            if end - start < s.min_region:
                continue
            for low, high in _windows(start, end, s.window, s.hop):
                clips.append(block[low:high])
                rate = s.sample_rate
                self._spans.append(((self._offset + low) / rate, (self._offset + high) / rate))
        if clips:
            self._embeddings.extend(self._encoder.embed(clips))

    # -- clustering ----------------------------------------------------------------------------

    def _cluster(self, vectors: NDArray[np.float32]) -> list[str]:
        """A speaker label per window: a known name, or ``"0"``, ``"1"``, ... for the others."""
        durations = np.array([end - start for start, end in self._spans])
        # short windows ("yes") embed noisily: they join the speakers the long ones define
        full = durations >= _FULL_WINDOW_SECONDS
        if full.sum() >= _MIN_TO_CLUSTER:
            found = _agglomerate(vectors[full], self._s.threshold, self._s.max_speakers)
            ids = _nearest(vectors, vectors[full], found)
            ids[full] = found
        else:
            ids = _agglomerate(vectors, self._s.threshold, self._s.max_speakers)
        ids = _absorb_small(vectors, ids, durations, self._s.min_speaker_seconds)
        names = self._name_clusters(vectors, ids)
        return [names[i] for i in ids]

    def _name_clusters(self, vectors: NDArray[np.float32], ids: NDArray[Any]) -> dict[int, str]:
        clusters = sorted(set(ids.tolist()))
        names = {c: str(c) for c in clusters}
        if not self._known:
            return names
        centroids = np.stack([_unit(vectors[ids == c].mean(axis=0)) for c in clusters])
        references = np.stack([vector for _, vector in self._known])
        similarity = centroids @ references.T
        taken: set[int] = set()
        for flat in np.argsort(-similarity, axis=None):
            row, col = np.unravel_index(flat, similarity.shape)
            if similarity[row, col] < self._s.known_similarity:
                break
            if clusters[row] in taken or self._known[col][0] in names.values():
                continue
            names[clusters[row]] = self._known[col][0]
            taken.add(clusters[row])
        return names


def _windows(start: int, end: int, window: int, hop: int) -> list[tuple[int, int]]:
    """Windows covering ``[start, end)``: one if it is short, the last one ending at ``end``."""
    if end - start <= window:
        return [(start, end)]
    spans = [(low, low + window) for low in range(start, end - window + 1, hop)]
    if spans[-1][1] < end:
        spans.append((end - window, end))
    return spans


def _unit(vector: NDArray[np.float32]) -> NDArray[np.float32]:
    return vector / max(float(np.linalg.norm(vector)), 1e-9)


def _agglomerate(
    vectors: NDArray[np.float32], threshold: float, max_speakers: int | None
) -> NDArray[Any]:
    """Average-linkage clusters under cosine distance ``threshold``; ids 0, 1, ... ."""
    from scipy.cluster.hierarchy import (  # type: ignore[import-untyped]  # noqa: PLC0415
        fcluster,
        linkage,
    )

    if len(vectors) == 1:
        return np.zeros(1, dtype=int)
    sample = vectors
    if len(vectors) > _MAX_LINKAGE:
        sample = vectors[np.linspace(0, len(vectors) - 1, _MAX_LINKAGE).astype(int)]
    tree = linkage(sample.astype(np.float64), method="average", metric="cosine")
    ids = fcluster(tree, t=threshold, criterion="distance") - 1
    if max_speakers is not None and ids.max() + 1 > max_speakers:
        ids = fcluster(tree, t=max_speakers, criterion="maxclust") - 1
    if sample is not vectors:
        ids = _nearest(vectors, sample, ids)
    return np.asarray(ids)


def _nearest(
    vectors: NDArray[np.float32], members: NDArray[np.float32], ids: NDArray[Any]
) -> NDArray[Any]:
    """For each of ``vectors``, the cluster (of ``members`` labelled ``ids``) it is closest to."""
    centroids = np.stack([_unit(members[ids == c].mean(axis=0)) for c in range(ids.max() + 1)])
    return np.asarray(np.argmax(vectors @ centroids.T, axis=1))


def _absorb_small(
    vectors: NDArray[np.float32], ids: NDArray[Any], durations: NDArray[Any], min_seconds: float
) -> NDArray[Any]:
    """Clusters with less than ``min_seconds`` of speech join the nearest larger cluster.

    One stray window (a cough, a word squeezed between two voices) is rarely a new speaker.
    """
    ids = ids.copy()
    while True:
        clusters = sorted(set(ids.tolist()))
        if len(clusters) <= 1:
            return _renumber(ids)
        totals = {c: float(durations[ids == c].sum()) for c in clusters}
        smallest = min(clusters, key=lambda c: totals[c])
        if totals[smallest] >= min_seconds:
            return _renumber(ids)
        others = [c for c in clusters if c != smallest]
        centroid = _unit(vectors[ids == smallest].mean(axis=0))
        scores = [float(_unit(vectors[ids == c].mean(axis=0)) @ centroid) for c in others]
        ids[ids == smallest] = others[int(np.argmax(scores))]


def _renumber(ids: NDArray[Any]) -> NDArray[Any]:
    """Cluster ids in order of first appearance: 0, 1, 2, ..."""
    order: dict[int, int] = {}
    for value in ids.tolist():
        order.setdefault(value, len(order))
    return np.array([order[v] for v in ids.tolist()], dtype=int)


def _turns(spans: list[tuple[float, float]], labels: list[str]) -> list[SpeakerTurn]:
    """Overlapping windows to turns: each window owns the time up to its neighbours' midpoints."""
    order = sorted(range(len(spans)), key=lambda i: spans[i])
    turns: list[SpeakerTurn] = []
    for position, index in enumerate(order):
        start, end = spans[index]
        if position > 0:
            prev_end = spans[order[position - 1]][1]
            if prev_end > start:
                start = (start + prev_end) / 2
        if position + 1 < len(order):
            next_start, _ = spans[order[position + 1]]
            if next_start < end:
                end = (next_start + end) / 2
        if end <= start:
            continue
        speaker = labels[index]
        last = turns[-1] if turns else None
        if last is not None and last.speaker == speaker and start - last.end < _JOIN_GAP:
            turns[-1] = SpeakerTurn(start=last.start, end=end, speaker=speaker)
        else:
            turns.append(SpeakerTurn(start=round(start, 3), end=round(end, 3), speaker=speaker))
    return turns

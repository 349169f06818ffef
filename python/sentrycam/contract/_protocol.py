"""The contract between the kernel and the views: every message, and the constants both sides use.

Each custom comm message is a ``TypedDict`` with a ``Literal`` ``type`` tag; frames travel as the
binary buffers of a ``frames`` message (one Arrow IPC stream each, see :mod:`.frames`). The
TypeScript side declares the same messages and constants in ``src/contract.ts`` and
``src/transport/messages.ts``; ``tests/python/test_contract.py`` checks that the two agree.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict, get_args, get_type_hints

#: Bumped whenever a message changes shape; a view says which one it speaks in ``hello``.
PROTOCOL_VERSION = 2

Reducer = Literal["umap", "tsne", "pca"]
ImageFormat = Literal["png", "svg"]
NoticeLevel = Literal["warning", "info"]

REDUCERS: tuple[Reducer, ...] = ("umap", "tsne", "pca")
IMAGE_FORMATS: tuple[ImageFormat, ...] = ("png", "svg")
NOTICE_LEVELS: tuple[NoticeLevel, ...] = ("warning", "info")
#: Frames a monitor holds in memory (and a view per layer) unless told otherwise.
DEFAULT_MAX_FRAMES = 1000


class TaskBoundary(TypedDict):
    """``cam.task(name)`` at ``step``: training on task ``name`` starts there."""

    step: int
    name: str


# ---- kernel → views -------------------------------------------------------------------------


class FramesMessage(TypedDict):
    """Frames ride as the message's buffers, one Arrow IPC stream per seq, in this order."""

    type: Literal["frames"]
    seqs: list[int]


class AlertsMessage(TypedDict):
    """Alerts as ``Alert.to_dict()``; a view de-duplicates those it already has."""

    type: Literal["alerts"]
    alerts: list[dict[str, Any]]


class NoticeMessage(TypedDict):
    """A problem the kernel worked around (``warning``) or where things stand (``info``)."""

    type: Literal["notice"]
    level: NoticeLevel
    text: str


class SnapshotRequest(TypedDict):
    """Asks a view for an image of what it shows; answered by a :class:`SnapshotReply`."""

    type: Literal["snapshot"]
    id: int
    format: ImageFormat


class TasksMessage(TypedDict):
    """Every task boundary marked so far (the whole list: sending it twice is harmless)."""

    type: Literal["tasks"]
    tasks: list[TaskBoundary]


KernelMessage = FramesMessage | AlertsMessage | NoticeMessage | SnapshotRequest | TasksMessage

# ---- views → kernel -------------------------------------------------------------------------


class HelloMessage(TypedDict):
    """A view appeared; ``have`` lists the inclusive seq ranges it holds (the rest is replayed)."""

    type: Literal["hello"]
    view: str
    have: list[list[int]]
    protocol: int


class ByeMessage(TypedDict):
    """A view went away."""

    type: Literal["bye"]
    view: str


class _SnapshotReplyFields(TypedDict):
    type: Literal["snapshot"]
    id: int
    ok: bool


class SnapshotReply(_SnapshotReplyFields, total=False):
    """The image (as the message's one buffer) or why there is none."""

    format: ImageFormat
    error: str


ViewMessage = HelloMessage | ByeMessage | SnapshotReply

KERNEL_MESSAGES: tuple[type, ...] = (
    FramesMessage,
    AlertsMessage,
    NoticeMessage,
    SnapshotRequest,
    TasksMessage,
)
VIEW_MESSAGES: tuple[type, ...] = (HelloMessage, ByeMessage, SnapshotReply)


def message_keys(messages: tuple[type, ...]) -> dict[str, list[str]]:
    """``{tag: sorted field names}`` of ``messages`` (what the contract test compares)."""
    out: dict[str, list[str]] = {}
    for cls in messages:
        hints = get_type_hints(cls)
        (tag,) = get_args(hints["type"])
        out[tag] = sorted(hints)
    return out

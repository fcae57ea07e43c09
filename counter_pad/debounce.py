"""Debounce and long-press for one push button: pure logic, the clock is passed in.

A mechanical button does not go from open to closed once: its contacts bounce for a few
milliseconds, and gpiozero's own ``bounce_time`` only drops edges for a while after the first one
(so a bounce on release can still look like a second press). :class:`DebouncedButton` instead
accepts a level only once it has stayed unchanged for ``bounce_s``, and measures a hold from that
moment, so a noisy contact gives exactly one press, one release and at most one long press.

Feed it every raw edge with :meth:`DebouncedButton.feed` (level, time in seconds) and call
:meth:`DebouncedButton.poll` regularly (the pad's tick) so a level that stopped changing gets
confirmed and a hold turns into a long press. Both return the events they produced, in order.

::

    >>> b = DebouncedButton(bounce_s=0.02, long_press_s=1.0)
    >>> b.feed(True, 0.000), b.feed(False, 0.003), b.feed(True, 0.004)  # contact bounce
    ([], [], [])
    >>> b.poll(0.030)
    [<ButtonEvent.PRESS: 'press'>]
    >>> b.feed(False, 0.400) + b.poll(0.430)
    [<ButtonEvent.RELEASE: 'release'>, <ButtonEvent.CLICK: 'click'>]
"""

from __future__ import annotations

import enum


class ButtonEvent(enum.StrEnum):
    PRESS = "press"  # confirmed down
    RELEASE = "release"  # confirmed up
    CLICK = "click"  # released before the long-press time (follows RELEASE)
    LONG = "long"  # held for the long-press time (fires once per press, while still held)


class DebouncedButton:
    """One button's debounce and long-press state.

    :param bounce_s: how long a level must stay unchanged to count (contact bounce lasts 1-10 ms
        on the usual arcade and tactile buttons; 30 ms leaves a margin and is still not noticeable).
    :param long_press_s: hold time that makes a press long; ``None`` disables long presses.
    """

    def __init__(self, *, bounce_s: float = 0.03, long_press_s: float | None = 1.5) -> None:
        if bounce_s < 0:
            raise ValueError("bounce_s cannot be negative")
        if long_press_s is not None and long_press_s <= bounce_s:
            raise ValueError("long_press_s must be longer than bounce_s")
        self.bounce_s = bounce_s
        self.long_press_s = long_press_s
        self._stable = False  # the confirmed level: True = pressed
        self._raw = False
        self._raw_since = 0.0
        self._pressed_at = 0.0
        self._long_fired = False

    @property
    def pressed(self) -> bool:
        """The confirmed (debounced) level."""
        return self._stable

    def feed(self, level: bool, t: float) -> list[ButtonEvent]:
        """A raw edge: the contact now reads ``level`` (True = pressed) at time ``t``."""
        events = self.poll(t)
        if level != self._raw:
            self._raw = level
            self._raw_since = t
        return events

    def poll(self, t: float) -> list[ButtonEvent]:
        """Time has reached ``t``: confirm a level that stopped bouncing, fire a due long press."""
        events: list[ButtonEvent] = []
        if self._raw != self._stable and t - self._raw_since >= self.bounce_s:
            self._stable = self._raw
            if self._stable:
                # The hold counts from the last edge, not from the confirmation: what the person did.
                self._pressed_at = self._raw_since
                self._long_fired = False
                events.append(ButtonEvent.PRESS)
            else:
                events.append(ButtonEvent.RELEASE)
                if not self._long_fired:
                    events.append(ButtonEvent.CLICK)
        if (
            self._stable
            and not self._long_fired
            and self.long_press_s is not None
            and t - self._pressed_at >= self.long_press_s
            # a release already on its way (still bouncing) ends the press before it is long
            and not (self._raw is False and self._raw_since - self._pressed_at < self.long_press_s)
        ):
            self._long_fired = True
            events.append(ButtonEvent.LONG)
        return events

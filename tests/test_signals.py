"""SIGTERM as an interrupt, and interrupts held back while a lock is taken (jobs.signals)."""

import os
import signal
import time

import pytest

from jobs.signals import interrupts_deferred, sigterm_as_interrupt


def test_sigterm_becomes_keyboard_interrupt_once_and_the_handler_is_restored():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt, match=r"Interrupted \(SIGTERM\)"), sigterm_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # interrupted at once
    assert signal.getsignal(signal.SIGTERM) is before

    with sigterm_as_interrupt():
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        os.kill(os.getpid(), signal.SIGTERM)  # while cleaning up: ignored
        time.sleep(0.01)


def test_a_deferred_interrupt_is_raised_when_the_block_ends_not_inside_it():
    done = []
    with (
        pytest.raises(KeyboardInterrupt, match=r"Interrupted \(SIGTERM\)"),
        sigterm_as_interrupt(),
        interrupts_deferred(),
    ):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)
        done.append("the block ran to its end")
    assert done == ["the block ran to its end"]


def test_ctrl_c_is_deferred_too_and_its_handler_restored():
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt, match=r"Ctrl-C"), interrupts_deferred():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)
    assert signal.getsignal(signal.SIGINT) is before

"""The progress displays of ``dataset-api import`` and ``export`` (rich, on stderr): what is known
as it is known. An export's rows arrive as the server writes them, so their rate is true; an
import's one request is answered only once every line is written, so while it waits the display
shows a clock, not a rate."""

from datetime import timedelta

import rich.progress as bars
from rich.console import Console
from rich.table import Column
from rich.text import Text


class RateColumn(bars.ProgressColumn):
    """Rows per second (rich's TransferSpeedColumn speaks bytes)."""

    def render(self, task):
        return Text(f"{task.speed or 0:,.0f} rows/s", style="progress.data.speed")


def console(show):
    """The console of a progress display: stderr, drawn as on a terminal when ``show`` is True."""
    return Console(stderr=True, force_terminal=show or None)


def progress(show, unit="rows"):
    """An export's progress display on stderr, in rows (or bytes). Shown when stderr is a terminal;
    ``show`` True (``--progress``) draws it anyway, as on a terminal (logs, tests); False never does."""
    out = console(show)
    counts = ([bars.MofNCompleteColumn(), RateColumn()] if unit == "rows"
              else [bars.DownloadColumn(), bars.TransferSpeedColumn()])
    return bars.Progress(bars.TextColumn("{task.description}"), bars.BarColumn(), *counts,
                         bars.TimeRemainingColumn(), console=out,
                         disable=show is False or not out.is_terminal)


# --- import -------------------------------------------------------------------------------------

class Bar(bars.BarColumn):
    """A bar, but none for a wait (its spinner and clock say all that is known)."""

    def render(self, task):
        return Text("") if task.fields.get("wait") else super().render(task)


class Lines(bars.ProgressColumn):
    """``sent/total lines``, or ``confirmed/total`` when the server's answers move it; none for a wait."""

    def render(self, task):
        return Text("" if task.fields.get("wait") else f"{task.completed:,.0f}/{task.total:,.0f} lines",
                    style="progress.download")


class ChunkRate(bars.ProgressColumn):
    """The lines per second of the last chunk answered (sent, written and confirmed), and the time
    left at the rate of every chunk so far; blank until an answer, and for one request."""

    def render(self, task):
        rate = task.fields.get("rate")
        if rate is None:
            return Text("")
        left = timedelta(seconds=round(task.fields["left"]))
        return Text(f"{rate:,.0f} lines/s, {left} left", style="progress.data.speed")


def import_display(show, out=None):
    """The import's display: lines sent and the time, then a spinner and the time while the server
    writes (no rate: nothing measures it until the answer); chunked, the lines the server confirmed
    and their rate. On ``out`` (default: stderr, drawn as ``progress`` says)."""
    out = out or console(show)
    whole = {"table_column": Column(no_wrap=True)}  # on a narrow terminal the bar gives way, not the text
    return bars.Progress(bars.SpinnerColumn(finished_text="✓"),
                         bars.TextColumn("{task.description}", **whole), Bar(bar_width=None),
                         Lines(**whole), ChunkRate(**whole), bars.TimeElapsedColumn(),
                         console=out, disable=show is False or not out.is_terminal)


class Upload:
    """One request's display: ``sending`` as the body goes (lines sent), then ``writing N lines``
    from when its last byte went until the answer, which stops that clock."""

    def __init__(self, bar, lines):
        self.bar, self.lines = bar, lines
        self.task, self.wait = bar.add_task("sending", total=lines), None

    def start(self):
        """A new attempt: nothing sent yet, no wait."""
        if self.wait is not None:
            self.bar.remove_task(self.wait)
        self.bar.reset(self.task, total=self.lines, description="sending")
        self.wait = None

    def advance(self, lines):
        self.bar.advance(self.task, lines)

    def sent(self):
        """The body is out: the server reads it whole, then writes; the wait's clock starts."""
        self.bar.update(self.task, description="sent", completed=self.lines)
        self.wait = self.bar.add_task(f"writing {self.lines:,} lines", total=None, wait=True)
        self.bar.refresh()

    def answered(self, resp):
        """The answer is in: the wait's clock stops, its line says the status."""
        if self.wait is not None:
            status = f"{resp.status_code} {resp.reason_phrase}"
            self.bar.update(self.wait, total=1, completed=1,
                            description=f"writing {self.lines:,} lines: {status}")
            self.bar.refresh()

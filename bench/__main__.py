"""`make bench`: every benchmark of the project, each printing its ratios."""

from __future__ import annotations

from bench import (
    ack,
    ack_sustained,
    answer,
    cpu,
    engine,
    history,
    leak_guard,
    network,
    startup,
    timed,
)


def main() -> None:
    for benchmark in (
        startup,
        engine,
        network,
        cpu,
        ack,
        ack_sustained,
        answer,
        history,
        leak_guard,
        timed,
    ):
        for line in benchmark.run():
            print(line, flush=True)
        print()


if __name__ == "__main__":
    main()

"""Benchmark the streaming XML reader: throughput and peak memory as the file grows.

    python tests/feeds/children/bench_xml.py 50000 200000 800000

For each size, a CIN census file of that many children (each with two CIN episodes, an
assessment with factors, a plan and disabilities) is written to a temporary folder, then
read by a fresh process through XmlReader with the cin_census spec; it prints rows,
seconds, rows/s and the process's peak RSS. Flat peak memory across sizes is the point:
the reader keeps one record and one Arrow batch per table, never the document.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = (
    "<Child><ChildIdentifiers><LAchildID>C{n:09d}</LAchildID><UPN>A202251717001</UPN>"
    "<PersonBirthDate>2015-03-27</PersonBirthDate><Sex>F</Sex></ChildIdentifiers>"
    "<ChildCharacteristics><Ethnicity>WBRI</Ethnicity><Disabilities><Disability>NONE</Disability>"
    "</Disabilities></ChildCharacteristics>"
    "<CINdetails><CINreferralDate>2024-06-01</CINreferralDate><ReferralSource>6</ReferralSource>"
    "<PrimaryNeedCode>N1</PrimaryNeedCode><Assessments><AssessmentActualStartDate>2024-06-03"
    "</AssessmentActualStartDate><AssessmentAuthorisationDate>2024-07-01</AssessmentAuthorisationDate>"
    "<FactorsIdentifiedAtAssessment><AssessmentFactors>3A</AssessmentFactors><AssessmentFactors>4B"
    "</AssessmentFactors></FactorsIdentifiedAtAssessment></Assessments><CINPlanDates><CINPlanStartDate>"
    "2024-07-10</CINPlanStartDate></CINPlanDates><ReferralNFA>0</ReferralNFA></CINdetails>"
    "<CINdetails><CINreferralDate>2023-01-05</CINreferralDate><ReferralSource>2A</ReferralSource>"
    "<CINclosureDate>2023-01-09</CINclosureDate><ReasonForClosure>RC8</ReasonForClosure>"
    "<ReferralNFA>1</ReferralNFA></CINdetails></Child>\n"
)


def write(path: Path, children: int) -> int:
    with path.open("w", encoding="utf-8") as fh:
        fh.write("<Message><Header><Source><LEA>202</LEA></Source></Header><Children>\n")
        for start in range(0, children, 10_000):
            fh.write(
                "".join(CHILD.format(n=n) for n in range(start, min(children, start + 10_000)))
            )
        fh.write("</Children></Message>\n")
    return path.stat().st_size


def read(path: str) -> None:
    from ingest.spec import load_spec
    from ingest.xml_source import XmlReader, xml_layout

    layout = xml_layout(load_spec("cin_census").for_year("2024/25"), "2024/25")
    started = time.perf_counter()
    rows = sum(batch.num_rows for _, batch in XmlReader(Path(path), path, layout).batches())
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "seconds": round(seconds, 2), "peak_rss_mb": round(peak_mb)}))


def main(sizes: list[int]) -> None:
    print(
        f"{'children':>10} {'file MB':>8} {'rows':>10} {'seconds':>8} {'rows/s':>9} {'peak RSS MB':>12}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for children in sizes:
            path = Path(tmp) / f"cin_{children}.xml"
            size = write(path, children)
            out = subprocess.run(
                [sys.executable, __file__, "--read", str(path)],
                capture_output=True,
                text=True,
                check=True,
            )
            got = json.loads(out.stdout.strip().splitlines()[-1])
            rate = got["rows"] / got["seconds"] if got["seconds"] else 0
            print(
                f"{children:>10,} {size / 1e6:>8.0f} {got['rows']:>10,} {got['seconds']:>8.1f} "
                f"{rate:>9,.0f} {got['peak_rss_mb']:>12,}"
            )
            path.unlink()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--read":
        read(sys.argv[2])
    else:
        main([int(a) for a in sys.argv[1:]] or [50_000, 200_000])

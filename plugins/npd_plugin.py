"""Registers the pipeline's timetable with Airflow, so DAGs scheduled on reference days
serialise (the scheduler, dag processor and API server all need it).

Point Airflow's plugins folder here (`AIRFLOW__CORE__PLUGINS_FOLDER`); the Docker image
copies this folder to /opt/airflow/plugins. The timetable itself lives in npd.timetables.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from npd.timetables import ReferenceDayTimetable


class NpdPlugin(AirflowPlugin):
    name = "npd"
    timetables = [ReferenceDayTimetable]  # noqa: RUF012 (Airflow reads a class attribute)

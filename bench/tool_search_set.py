"""A small labelled set for ``tools.search``: 16 tools (with callables and parameters, in
look-alike pairs) and the queries an agent would send for them. Tools are ranked by the same
engine and document recipe as skills (``search.index.document``)."""

from __future__ import annotations

# name | description | tags | callables as "name(param, param): description; ..."
_TOOLS = """
curl | Make HTTP requests from the command line | http, web | get(url): fetch a URL; post(url, data): send data to a URL
wget | Download files from the web | http, download | download(url, output): save a remote file to disk; mirror(url): copy a whole site
git | Distributed version control | vcs, code | log(path): show commit history; diff(ref): show changes; blame(path): who changed each line
gh | GitHub from the command line | github, vcs | issues(repo): list issues; pr_list(repo): list pull requests; release(tag): publish a release
jq | Query and transform JSON | json, data | query(filter, file): select fields from a JSON document
yq | Query and transform YAML | yaml, data | query(filter, file): select fields from a YAML document
docker | Build and run containers | containers | ps(): list running containers; build(context, tag): build an image; logs(container): container output
kubectl | Control Kubernetes clusters | kubernetes, containers | get_pods(namespace): list pods; rollout_restart(deployment): restart a deployment; logs(pod): pod output
psql | PostgreSQL client | database, sql | query(sql): run a SQL statement; tables(): list tables
sqlite3 | SQLite database client | database, sql | query(db, sql): run a SQL statement on a file database
ffmpeg | Convert and edit audio and video | media, video | convert(input, output): change a media file's format; extract_audio(input): save the sound track
imagemagick | Edit and convert images | image, media | resize(input, width, height): scale a picture; convert(input, output): change image format
pandoc | Convert documents between markup formats | docs, markdown | convert(input, output): markdown to html, docx or pdf
pdftotext | Extract text from PDF files | pdf, text | extract(path): plain text of a PDF
slack | Slack workspace API | chat, messaging | post_message(channel, text): send a message; history(channel): read recent messages
weather | Weather data API | weather, forecast | forecast(city, days): coming days; current(city): conditions now
"""

# kind | query | relevant tool
_QUERIES = """
paraphrase | fetch a web page over http | curl
paraphrase | save a big file from the internet to disk | wget
paraphrase | who changed this line of code | git
paraphrase | list the open pull requests of our repo | gh
paraphrase | pull one field out of a json response | jq
paraphrase | read a value from a kubernetes yaml manifest | yq
paraphrase | which containers are running on this host | docker
paraphrase | restart the pods of a deployment | kubectl
paraphrase | run a select against postgres | psql
paraphrase | query a local .db file | sqlite3
paraphrase | turn a mov into mp4 | ffmpeg
paraphrase | make a photo smaller | imagemagick
paraphrase | turn markdown into a word document | pandoc
paraphrase | get the words out of a pdf | pdftotext
paraphrase | tell the team in the chat channel | slack
paraphrase | will it rain tomorrow | weather
exact | kubectl | kubectl
exact | pdftotext | pdftotext
exact | imagemagick | imagemagick
exact | sqlite3 | sqlite3
typo | dwonload a fiel from a url | wget
typo | resise an imgae | imagemagick
typo | wether forcast | weather
typo | convrt a vidoe | ffmpeg
"""


def tools() -> list:
    from py_code_mode.tools.models import Tool, ToolCallable, ToolParameter

    out = []
    for line in _TOOLS.strip().splitlines():
        name, description, tags, callables = (p.strip() for p in line.split("|"))
        parsed = []
        for spec in callables.split(";"):
            head, doc = spec.split(":", 1)
            cname, params = head.strip().rstrip(")").split("(")
            parsed.append(
                ToolCallable(
                    name=cname,
                    description=doc.strip(),
                    parameters=[
                        ToolParameter(name=p.strip()) for p in params.split(",") if p.strip()
                    ],
                )
            )
        tag_list = [t.strip() for t in tags.split(",")]
        out.append(Tool(name=name, description=description, tags=tag_list, callables=parsed))
    return out


QUERIES: list[tuple[str, str, str]] = [
    tuple(p.strip() for p in line.split("|"))  # type: ignore[misc]
    for line in _QUERIES.strip().splitlines()
]

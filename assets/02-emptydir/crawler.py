"""kubetutor crawler: "crawls" a built-in shelf of public-domain books.

GET /books    -> {"books": [{"id", "title", "author", "year", "keywords",
                             "crawler_port", "crawled_at"}, ...]} sorted by id
GET /healthz  -> 200 "ok" (readiness probe)

Settings, from the environment:
  CRAWLER_PORT      port to listen on (default 8080)
  CRAWLER_DB_PATH   directory where each book found is saved as <id>.json;
                    unset: books are kept in memory
  CRAWLER_KEYWORDS  comma-separated words to look for in each book's title
                    and opening lines (whole words, any case)
  CRAWLER_INTERVAL  seconds between two books (default 15); the first book
                    comes one interval after start-up

Crawlers that share CRAWLER_DB_PATH share their work: each skips the books
already saved there. Nothing is fetched from the network. Binding a port in
use exits with status 1 and the message "listen tcp :PORT: bind: address
already in use". Standard library only, to run on the stock python image.
"""

import errno
import json
import os
import re
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SHELF = [
    ("pride-and-prejudice", "Pride and Prejudice", "Jane Austen", 1813,
     "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife."),
    ("moby-dick", "Moby-Dick", "Herman Melville", 1851,
     "Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my purse, I thought I would sail about a little and see the watery part of the world."),
    ("frankenstein", "Frankenstein", "Mary Shelley", 1818,
     "You will rejoice to hear that no disaster has accompanied the commencement of an enterprise which you have regarded with such evil forebodings."),
    ("alice-in-wonderland", "Alice's Adventures in Wonderland", "Lewis Carroll", 1865,
     "Alice was beginning to get very tired of sitting by her sister on the bank, and of having nothing to do."),
    ("dracula", "Dracula", "Bram Stoker", 1897,
     "Left Munich at 8:35 P.M., on 1st May, arriving at Vienna early next morning; should have arrived at 6:46, but train was an hour late."),
    ("sherlock-holmes", "The Adventures of Sherlock Holmes", "Arthur Conan Doyle", 1892,
     "To Sherlock Holmes she is always the woman. I have seldom heard him mention her under any other name."),
    ("treasure-island", "Treasure Island", "Robert Louis Stevenson", 1883,
     "Squire Trelawney, Dr. Livesey, and the rest of these gentlemen having asked me to write down the whole particulars about Treasure Island, from the beginning to the end."),
    ("time-machine", "The Time Machine", "H. G. Wells", 1895,
     "The Time Traveller (for so it will be convenient to speak of him) was expounding a recondite matter to us."),
    ("war-of-the-worlds", "The War of the Worlds", "H. G. Wells", 1898,
     "No one would have believed in the last years of the nineteenth century that this world was being watched keenly and closely by intelligences greater than man's."),
    ("great-expectations", "Great Expectations", "Charles Dickens", 1861,
     "My father's family name being Pirrip, and my Christian name Philip, my infant tongue could make of both names nothing longer or more explicit than Pip."),
    ("les-miserables", "Les Misérables", "Victor Hugo", 1862,
     "In 1815, M. Charles-François-Bienvenu Myriel was Bishop of D—— He was an old man of about seventy-five years of age."),
    ("around-the-world", "Around the World in Eighty Days", "Jules Verne", 1873,
     "Mr. Phileas Fogg lived, in 1872, at No. 7, Saville Row, Burlington Gardens, the house in which Sheridan died in 1814."),
    ("twenty-thousand-leagues", "Twenty Thousand Leagues Under the Sea", "Jules Verne", 1870,
     "The year 1866 was signalised by a remarkable incident, a mysterious and puzzling phenomenon, which doubtless no one has yet forgotten."),
    ("count-of-monte-cristo", "The Count of Monte Cristo", "Alexandre Dumas", 1844,
     "On the 24th of February, 1815, the look-out at Notre-Dame de la Garde signalled the three-master, the Pharaon from Smyrna, Trieste, and Naples."),
    ("huckleberry-finn", "Adventures of Huckleberry Finn", "Mark Twain", 1884,
     "You don't know about me without you have read a book by the name of The Adventures of Tom Sawyer; but that ain't no matter."),
    ("jane-eyre", "Jane Eyre", "Charlotte Brontë", 1847,
     "There was no possibility of taking a walk that day. We had been wandering, indeed, in the leafless shrubbery an hour in the morning."),
    ("wuthering-heights", "Wuthering Heights", "Emily Brontë", 1847,
     "1801.—I have just returned from a visit to my landlord—the solitary neighbour that I shall be troubled with."),
    ("dorian-gray", "The Picture of Dorian Gray", "Oscar Wilde", 1890,
     "The studio was filled with the rich odour of roses, and when the light summer wind stirred amidst the trees of the garden, there came through the open door the heavy scent of the lilac."),
    ("the-odyssey", "The Odyssey", "Homer", -700,
     "Tell me, O muse, of that ingenious hero who travelled far and wide after he had sacked the famous town of Troy."),
    ("don-quixote", "Don Quixote", "Miguel de Cervantes", 1605,
     "In a village of La Mancha, the name of which I have no desire to call to mind, there lived not long since one of those gentlemen that keep a lance in the lance-rack."),
]


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def log(line):
    print(f"{now()} {line}", flush=True)


def exit_on_sigterm():
    # As process 1 of its container, Python would ignore SIGTERM (no default
    # action for init): without this, deleting the pod waits 30 s for SIGKILL.
    # 143 = 128 + SIGTERM, the status of a process the signal killed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


class Store:
    """Books found so far: files in a directory, or a dict in memory."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.memory = {}
        if path:
            os.makedirs(path, exist_ok=True)

    def ids(self):
        if not self.path:
            with self.lock:
                return set(self.memory)
        try:
            names = os.listdir(self.path)
        except OSError:
            return set()
        return {n[:-5] for n in names if n.endswith(".json")}

    def all(self):
        if not self.path:
            with self.lock:
                return [self.memory[k] for k in sorted(self.memory)]
        books = []
        for book_id in sorted(self.ids()):
            try:
                with open(os.path.join(self.path, book_id + ".json"), encoding="utf-8") as f:
                    books.append(json.load(f))
            except (OSError, ValueError):
                continue  # another crawler is writing it right now
        return books

    def claim(self, book_id):
        """Reserve a book, so that crawlers sharing the directory split the work."""
        if not self.path:
            return True
        try:
            fd = os.open(os.path.join(self.path, f".{book_id}.claim"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return False
        os.close(fd)
        return True

    def add(self, book):
        if not self.path:
            with self.lock:
                self.memory[book["id"]] = book
            return
        final = os.path.join(self.path, book["id"] + ".json")
        tmp = f"{final}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(book, f)
        os.replace(tmp, final)


def crawl_forever(store, port, keywords, interval):
    idle = False
    while True:
        time.sleep(interval)
        known = store.ids()
        # Lazy: stop at the first book this crawler manages to claim.
        book = next((b for b in SHELF if b[0] not in known and store.claim(b[0])), None)
        if book is None:
            if not idle:
                log(f"crawler on :{port}: nothing left to crawl ({len(SHELF)} books on the shelf), waiting")
                idle = True
            continue
        idle = False
        book_id, title, author, year, text = book
        found = [k for k in keywords if re.search(rf"\b{re.escape(k)}\b", f"{title} {text}", re.IGNORECASE)]
        store.add({
            "id": book_id,
            "title": title,
            "author": author,
            "year": year,
            "keywords": found,
            "crawler_port": port,
            "crawled_at": now(),
        })
        log(f"crawler on :{port}: crawled \"{title}\" by {author}, keywords found: {found or 'none'}")


class Handler(BaseHTTPRequestHandler):
    store = None

    def _reply(self, status, payload):
        body = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/healthz":
            self._reply(200, "ok")
        elif self.path.rstrip("/") == "/books":
            self._reply(200, {"books": self.store.all()})
        else:
            self._reply(404, {"error": f"no route for GET {self.path}"})

    def log_message(self, fmt, *args):
        # Only requests for data: readiness probes every few seconds, and
        # kubetutor's checks once a second, would drown the log.
        # (A request that could not be parsed has no path or headers yet.)
        path = getattr(self, "path", "")
        headers = getattr(self, "headers", None)
        if path == "/healthz" or (headers and headers.get("X-Kubetutor-Probe")):
            return
        log(f"{self.command} {path} -> {args[1] if len(args) > 1 else '?'}")


class Server(ThreadingHTTPServer):
    # Never share a port: a second crawler on the same port must fail, as a
    # Go program would (newer Pythons may otherwise set SO_REUSEPORT).
    allow_reuse_address = True
    allow_reuse_port = False
    daemon_threads = True


def env_int(name, default):
    raw = os.environ.get(name) or ""
    try:
        return int(raw) if raw else default
    except ValueError:
        log(f"{name}={raw!r} is not a number: using {default}")
        return default


def main():
    port = env_int("CRAWLER_PORT", 8080)
    interval = max(1, env_int("CRAWLER_INTERVAL", 15))
    keywords = [k.strip() for k in (os.environ.get("CRAWLER_KEYWORDS") or "").split(",") if k.strip()]
    db_path = os.environ.get("CRAWLER_DB_PATH") or None
    try:
        server = Server(("", port), Handler)
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            print(f"listen tcp :{port}: bind: address already in use", file=sys.stderr, flush=True)
        else:
            print(f"listen tcp :{port}: {err.strerror}", file=sys.stderr, flush=True)
        return 1
    try:
        store = Store(db_path)
    except OSError as err:
        print(f"cannot use CRAWLER_DB_PATH {db_path}: {err}", file=sys.stderr, flush=True)
        return 1
    Handler.store = store
    exit_on_sigterm()
    if db_path:
        log(f"CRAWLER_DB_PATH is set: books are saved in {db_path}")
    else:
        log("CRAWLER_DB_PATH not set: books are kept in memory")
    log(f"crawler on :{port}: one book every {interval}s, keywords: {keywords or 'none'}")
    threading.Thread(target=crawl_forever, args=(store, port, keywords, interval), daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

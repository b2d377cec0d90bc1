#!/usr/bin/env python3
"""lmdb_pages.py - which pages of an LMDB data file each database holds,
and which of them one or more commits wrote.

  bench/lmdb_pages.py DATA.MDB               pages per database
  bench/lmdb_pages.py BEFORE.MDB AFTER.MDB   pages each database holds in
                                             AFTER that BEFORE did not
                                             reach: what the commits in
                                             between wrote

LMDB never writes a page in place: a commit writes every page it changed
under a new page number (a freed one, or one past the end of the file).
So the pages reachable from AFTER's newest meta page and not from
BEFORE's are exactly the pages the commits between the two copies wrote,
and how scattered they lie is what a commit's fdatasync pays for
(bench/flush_cost). Take BEFORE as a copy of data.mdb of a store closed
cleanly, and AFTER once the server that opened that store has stopped.

It reads the file format of LMDB 0.9 built for 64-bit little-endian
machines (the page and node layouts of mdb.c): MDB_WRITEMAP makes no
difference, other builds are not supported.
"""
import struct
import sys
from collections import defaultdict

P_BRANCH, P_LEAF2 = 0x01, 0x20
F_BIGDATA, F_SUBDATA = 0x01, 0x02
MDB_DUPSORT = 0x04
P_INVALID = 0xFFFFFFFFFFFFFFFF
PAGEHDR = 16
# MDB_db: md_pad, md_flags, md_depth, then branch, leaf and overflow
# pages, entries and root.
DB = struct.Struct('<IHHQQQQQ')


def newest_meta(data):
    """Returns (page size, FREE_DBI's MDB_db, MAIN_DBI's, last page, txnid)
    of the meta page with the highest transaction id."""
    def meta(off):
        dbs = off + PAGEHDR + 24
        free, main = DB.unpack_from(data, dbs), DB.unpack_from(data, dbs + 48)
        last_pg, txnid = struct.unpack_from('<QQ', data, dbs + 96)
        return free, main, last_pg, txnid
    m0 = meta(0)
    psize = m0[0][0]           # FREE_DBI's md_pad holds the page size
    m1 = meta(psize)
    return (psize,) + (m0 if m0[3] > m1[3] else m1)


def walk(data, psize, root, name, out, dupsort=False):
    """Adds every page of the tree at root to out[name]: a named database
    met in the main tree under its own name, duplicates under name(dups),
    overflow pages under name(overflow)."""
    stack = [] if root == P_INVALID else [root]
    while stack:
        pg = stack.pop()
        off = pg * psize
        flags, lower = struct.unpack_from('<HH', data, off + 10)
        out[name].add(pg)
        if flags & P_LEAF2:
            continue
        for i in range((lower - PAGEHDR) // 2):
            (node,) = struct.unpack_from('<H', data, off + PAGEHDR + 2 * i)
            lo, hi, nflags, ksize = struct.unpack_from('<HHHH', data,
                                                       off + node)
            if flags & P_BRANCH:
                stack.append(lo | hi << 16 | nflags << 32)
                continue
            val = off + node + 8 + ksize
            if nflags & F_BIGDATA:
                (first,) = struct.unpack_from('<Q', data, val)
                (count,) = struct.unpack_from('<I', data, first * psize + 12)
                out[name + '(overflow)'].update(range(first, first + count))
            elif nflags & F_SUBDATA:
                db = DB.unpack_from(data, val)
                if dupsort:
                    walk(data, psize, db[7], name + '(dups)', out)
                else:
                    key = data[off + node + 8:val].decode(errors='replace')
                    walk(data, psize, db[7], key, out,
                         dupsort=bool(db[1] & MDB_DUPSORT))


def pages(path):
    """Returns ({database: set of page numbers}, last page, txnid)."""
    with open(path, 'rb') as f:
        data = f.read()
    psize, free, main, last_pg, txnid = newest_meta(data)
    out = defaultdict(set)
    walk(data, psize, free[7], '(freelist)', out)
    walk(data, psize, main[7], '(main)', out)
    return out, last_pg, txnid


def runs(pgnos):
    """Returns the lengths of the runs of consecutive numbers in pgnos."""
    out, prev = [], None
    for p in sorted(pgnos):
        if prev is not None and p == prev + 1:
            out[-1] += 1
        else:
            out.append(1)
        prev = p
    return out


def main(argv):
    if len(argv) not in (2, 3):
        sys.stderr.write(__doc__)
        return 2
    a, a_last, a_txn = pages(argv[1])
    if len(argv) == 2:
        for name in sorted(a):
            print('%-24s pages %8d' % (name, len(a[name])))
        return 0
    b, b_last, b_txn = pages(argv[2])
    written = set()
    print('transactions %d -> %d, last page %d -> %d' %
          (a_txn, b_txn, a_last, b_last))
    for name in sorted(b, key=lambda k: len(b[k] - a.get(k, set())),
                       reverse=True):
        new = b[name] - a.get(name, set())
        written |= new
        print('%-24s pages %8d  written %6d' % (name, len(b[name]), len(new)))
    r = runs(written)
    grown = sum(1 for p in written if p > a_last)
    print('written %d pages in %d runs (%d of one page); %d past the old '
          'end of the file' % (len(written), len(r),
                               sum(1 for n in r if n == 1), grown))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))

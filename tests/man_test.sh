#!/bin/sh
# Fails when a command or an option of artstore or artstored is missing
# from its man page: the commands are those `artstore --help` lists, the
# flags those each `artstore CMD --help` and `artstored --help` show.
#
#   man_test.sh ARTSTORE ARTSTORED MANDIR
set -u
cli=$1 srv=$2 man=$3
status=0

# The man page as plain text: roff's \- as -, font escapes dropped.
plain() { sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' "$1"; }

has_word() { # FILE WORD: WORD not inside a longer option name
    plain "$1" | grep -Eq -- "(^|[^a-z-])$2([^a-z-]|\$)"
}

cmds=$("$cli" --help | sed -n '/^COMMANDS/,/^$/p' | awk 'NR > 1 && NF { print $1 }')
[ -n "$cmds" ] || { echo "no commands in artstore --help"; exit 1; }
for c in $cmds; do
    if ! plain "$man/artstore.1" | grep -Eq "^\.B[IR]? $c( |\$)"; then
        echo "artstore.1: command '$c' is not described"
        status=1
    fi
    # The flags of the synopsis and the FLAGS sections (descriptions may
    # name the server's options).
    for f in $("$cli" "$c" --help |
               sed -n -e '/^USAGE/,/^$/p' -e '/^FLAGS/,$p' -e '/^GLOBAL FLAGS/,$p' |
               grep -o -- '--[a-z][a-z-]*' | sort -u); do
        if ! has_word "$man/artstore.1" "$f"; then
            echo "artstore.1: $c flag $f is missing"
            status=1
        fi
    done
done

opts=$("$srv" --help | grep -oE -- '^ +(-[a-zA-Z], )?--[a-z][a-z-]*' |
       grep -oE -- '--[a-z][a-z-]*')
[ -n "$opts" ] || { echo "no options in artstored --help"; exit 1; }
for o in $opts; do
    # The limits are listed by name in one --max-* entry.
    if ! has_word "$man/artstored.8" "$o" &&
       ! has_word "$man/artstored.8" "${o#--}"; then
        echo "artstored.8: option $o is missing"
        status=1
    fi
done
[ $status -eq 0 ] && echo "man pages list every command and option"
exit $status

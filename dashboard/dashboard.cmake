# The dashboard's files, built into artstored (included by
# server/CMakeLists.txt, which compiles DASHBOARD_ASSETS_C).
#
# With ARTSTORE_DASHBOARD (the default) the build installs the pinned
# protobufjs and protobufjs-cli from package-lock.json into the build tree
# (npm ci), generates artstore_pb.js from proto/artstore.proto with pbjs,
# and embeds the page, protobufjs's minimal runtime and that code as C
# arrays (cmake/embed.cmake). Nothing generated is committed, and nothing
# is fetched when the server runs. Without it, / says the page is not built
# in and /metrics still works.
set(DASHBOARD_SRC ${CMAKE_SOURCE_DIR}/dashboard)
set(DASHBOARD_BUILD ${CMAKE_BINARY_DIR}/dashboard)
set(DASHBOARD_ASSETS_C ${CMAKE_BINARY_DIR}/generated/dashboard_assets.c)
set(DASHBOARD_PAGE ${DASHBOARD_SRC}/index.html ${DASHBOARD_SRC}/app.js
    ${DASHBOARD_SRC}/style.css)

if(ARTSTORE_DASHBOARD)
  find_program(NODE node)
  find_program(NPM npm)
  if(NOT NODE OR NOT NPM)
    message(FATAL_ERROR "The dashboard needs node and npm (Debian: nodejs "
            "npm; `sh deploy/deps.sh` installs them), or configure with "
            "-DARTSTORE_DASHBOARD=OFF to build artstored without it.")
  endif()
  file(MAKE_DIRECTORY ${DASHBOARD_BUILD})
  set(stamp ${DASHBOARD_BUILD}/node_modules/.artstore-stamp)
  add_custom_command(
    OUTPUT ${stamp}
    COMMAND ${CMAKE_COMMAND} -E copy ${DASHBOARD_SRC}/package.json
            ${DASHBOARD_SRC}/package-lock.json ${DASHBOARD_BUILD}
    # Exactly the versions of the lock file; no install scripts run.
    COMMAND ${NPM} ci --ignore-scripts --no-audit --no-fund --loglevel=error
    COMMAND ${CMAKE_COMMAND} -E touch ${stamp}
    WORKING_DIRECTORY ${DASHBOARD_BUILD}
    DEPENDS ${DASHBOARD_SRC}/package.json ${DASHBOARD_SRC}/package-lock.json
    COMMENT "npm ci (dashboard build tools, pinned by package-lock.json)")
  add_custom_command(
    OUTPUT ${DASHBOARD_BUILD}/artstore_pb.js ${DASHBOARD_BUILD}/protobuf.min.js
    COMMAND ${NODE} ${DASHBOARD_BUILD}/node_modules/protobufjs-cli/bin/pbjs
            -t static-module -w closure --keep-case --no-create --no-verify
            --no-convert --no-delimited --no-typeurl --no-service
            --no-comments -o ${DASHBOARD_BUILD}/artstore_pb.js
            ${CMAKE_SOURCE_DIR}/proto/artstore.proto
    COMMAND ${CMAKE_COMMAND} -E copy
            ${DASHBOARD_BUILD}/node_modules/protobufjs/dist/minimal/protobuf.min.js
            ${DASHBOARD_BUILD}/protobuf.min.js
    DEPENDS ${stamp} ${CMAKE_SOURCE_DIR}/proto/artstore.proto
    COMMENT "pbjs artstore.proto (the dashboard's protobuf code)")
  set(files ${DASHBOARD_PAGE} ${DASHBOARD_BUILD}/protobuf.min.js
      ${DASHBOARD_BUILD}/artstore_pb.js)
else()
  set(files "")
endif()
string(REPLACE ";" "," files_arg "${files}")
add_custom_command(
  OUTPUT ${DASHBOARD_ASSETS_C}
  COMMAND ${CMAKE_COMMAND} -DOUT=${DASHBOARD_ASSETS_C} -DFILES=${files_arg}
          -P ${CMAKE_SOURCE_DIR}/cmake/embed.cmake
  DEPENDS ${files} ${CMAKE_SOURCE_DIR}/cmake/embed.cmake
  COMMENT "Embedding the dashboard's files")

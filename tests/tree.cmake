# Structural rules of the tree (scripts/check-tree.py): file and function
# sizes, no file-wide warning switches, no include cycles, tools/ and the
# VFS never include server/, clang-format clean.
add_test(NAME tree_rules COMMAND python3 ${CMAKE_SOURCE_DIR}/scripts/check-tree.py ${CMAKE_SOURCE_DIR})
set_tests_properties(tree_rules PROPERTIES TIMEOUT 120)

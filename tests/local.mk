# cmocka unit tests are listed here.

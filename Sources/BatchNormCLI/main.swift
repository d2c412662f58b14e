import BatchNormCommands

// The `batchnorm` executable: everything it does lives in the BatchNormCommands library, which the
// fuzzers and the tests import too.
BatchNormCommand.main()

module example.com/enoscertmock-recipe

go 1.21
